package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/sdk"
)

// TestSigningKeyRotation rotates the gateway's master signing secret with
// no failed request: hello-go first holds the key derived from the old
// master; an instance holding the new key and the old one as
// PLUGBOARD_SERVICE_KEY_PREVIOUS replaces it; the gateway restarts with the
// new master; an instance holding only the new key replaces that one. The
// signed endpoint answers 200 at every step.
func TestSigningKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the platform's binaries")
	}
	bin := t.TempDir()
	build(t, bin, map[string]string{
		"plugboard-registry": "./cmd/registry", "plugboard-core": "./cmd/core",
		"plugboard-gateway": "./cmd/gateway", "hello-go": "./examples/hello-go",
	})
	const oldMaster, newMaster = "rotation-old-master-secret-0123456789", "rotation-new-master-secret-0123456789"
	regAddr, coreAddr, gwAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PLUGBOARD_DATA_DIR=" + t.TempDir(),
		"PLUGBOARD_REGISTRY_LISTEN=" + regAddr, "PLUGBOARD_REGISTRY_URL=http://" + regAddr,
		"PLUGBOARD_CORE_LISTEN=" + coreAddr, "PLUGBOARD_CORE_URL=http://" + coreAddr,
		"PLUGBOARD_GATEWAY_SITE=http://" + gwAddr, "PLUGBOARD_GATEWAY_ADMIN=off",
		"PLUGBOARD_GATEWAY_CADDYFILE=" + abs(t, "../../Caddyfile"), "PLUGBOARD_WEB_ROOT=" + abs(t, "../../web/placeholder"),
		"PLUGBOARD_GATEWAY_ACCESS_LOG=discard",
		"PLUGBOARD_ADMIN_PASSWORD=" + adminPassword, "PLUGBOARD_CORE_BCRYPT_COST=4",
		"PLUGBOARD_REGISTRY_TOKEN=rotation-registry-token-0123456789", "PLUGBOARD_REGISTRY_HEALTH_INTERVAL=500ms",
	}
	with := func(more ...string) []string { return append(append([]string{}, env...), more...) }
	startProc(t, "registry", filepath.Join(bin, "plugboard-registry"), env)
	startProc(t, "core", filepath.Join(bin, "plugboard-core"), env)
	gateway := startProc(t, "gateway", filepath.Join(bin, "plugboard-gateway"), with("PLUGBOARD_GATEWAY_SIGNING_SECRET="+oldMaster))
	for _, a := range []string{regAddr, coreAddr, gwAddr} {
		waitTCP(t, a)
	}
	startHello := func(keys ...string) *proc {
		more := []string{"PLUGBOARD_SERVICE_PORT=" + port(testenv.FreeAddr(t)), "PLUGBOARD_HEARTBEAT_INTERVAL=1s",
			"PLUGBOARD_SERVICE_KEY=" + keys[0]}
		if len(keys) > 1 {
			more = append(more, "PLUGBOARD_SERVICE_KEY_PREVIOUS="+keys[1])
		}
		return startProc(t, "hello-go", filepath.Join(bin, "hello-go"), with(more...))
	}
	stop := func(p *proc) { // deregisters, then exits
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	}
	oldKey, newKey := sdk.ServiceKey([]byte(oldMaster), "hello"), sdk.ServiceKey([]byte(newMaster), "hello")

	c := &client{base: "http://" + gwAddr}
	one := startHello(oldKey)
	testenv.Eventually(t, 30*time.Second, func() bool { return c.status("GET", "/api/hello/hello", nil, "") == 200 }, "hello-go never routable")
	var admin struct {
		AccessToken string `json:"access_token"`
	}
	c.json(t, "POST", "/api/auth/login", map[string]string{"username": "admin", "password": adminPassword}, "", &admin)
	whoami := func() int { return c.send(stream{method: "GET", path: "/api/hello/whoami", bearer: admin.AccessToken}) }
	testenv.Eventually(t, 15*time.Second, func() bool { return whoami() == 200 }, "whoami never answered 200 under the old master")

	// (1) The plugin learns the new key and keeps the old as previous.
	two := startHello(newKey, oldKey)
	testenv.Eventually(t, 15*time.Second, func() bool { return strings.Contains(two.log.String(), "registered") }, "the overlapping instance did not register")
	stop(one)
	for i := range 20 {
		if code := whoami(); code != 200 {
			t.Fatalf("(1) overlap, gateway on the old master: request %d answered %d", i, code)
		}
	}

	// (2) The gateway switches to the new master.
	stop(gateway)
	startProc(t, "gateway", filepath.Join(bin, "plugboard-gateway"), with("PLUGBOARD_GATEWAY_SIGNING_SECRET="+newMaster))
	waitTCP(t, gwAddr)
	testenv.Eventually(t, 15*time.Second, func() bool { return whoami() == 200 }, "whoami never answered 200 after the gateway switched")
	for i := range 20 {
		if code := whoami(); code != 200 {
			t.Fatalf("(2) overlap, gateway on the new master: request %d answered %d", i, code)
		}
	}

	// (3) The previous key is dropped.
	three := startHello(newKey)
	testenv.Eventually(t, 15*time.Second, func() bool { return strings.Contains(three.log.String(), "registered") }, "the new-key instance did not register")
	stop(two)
	for i := range 20 {
		if code := whoami(); code != 200 {
			t.Fatalf("(3) new key only: request %d answered %d", i, code)
		}
	}
	// An instance left on the old key alone is refused (and so cannot be
	// forgotten silently).
	stop(three)
	startHello(oldKey)
	testenv.Eventually(t, 15*time.Second, func() bool { return c.status("GET", "/api/hello/hello", nil, "") == 200 }, "the old-key instance never routable")
	if code := whoami(); code != 401 {
		t.Fatalf("an instance with only the old key answered %d, want 401", code)
	}
}
