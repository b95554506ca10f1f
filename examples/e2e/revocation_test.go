package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// This file is issue 15's proof that a revocation reaches every gateway:
// the built binaries as separate processes — one registry, one or two
// cores, one or two gateways, each gateway following another core — and
// the hello-go plugin. Every change that a gateway decision depends on is
// made through one core or the other, and every gateway must enforce it.

// cluster is a running set of processes.
type cluster struct {
	tb       testing.TB
	cores    []string // base URLs
	gateways []string // base URLs
	admin    string   // the super admin's access token
}

// startCluster starts the platform: with shared set, on a PostgreSQL schema
// and a Redis prefix of its own, with two cores and two gateways (gateway i
// follows core i); otherwise embedded (SQLite, no Redis), one of each.
func startCluster(tb testing.TB, bin string, shared bool) *cluster {
	tb.Helper()
	data := tb.TempDir()
	regAddr := testenv.FreeAddr(tb)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + tb.TempDir(), "PLUGBOARD_DATA_DIR=" + data,
		"PLUGBOARD_REGISTRY_LISTEN=" + regAddr, "PLUGBOARD_REGISTRY_URL=http://" + regAddr,
		"PLUGBOARD_GATEWAY_ADMIN=off", "PLUGBOARD_GATEWAY_CADDYFILE=" + abs(tb, "../../Caddyfile"),
		"PLUGBOARD_WEB_ROOT=" + abs(tb, "../../web/placeholder"),
		"PLUGBOARD_GATEWAY_ACCESS_LOG=discard", "PLUGBOARD_LOG_LEVEL=warn",
		"PLUGBOARD_ADMIN_PASSWORD=" + adminPassword, "PLUGBOARD_CORE_BCRYPT_COST=4",
		"PLUGBOARD_REGISTRY_TOKEN=revocation-suite-registry-token-0123456789",
		"PLUGBOARD_GATEWAY_SIGNING_SECRET=revocation-suite-signing-secret-0123456789",
	}
	n := 1
	if shared {
		n = 2
		redisURL, prefix := testenv.RedisURL(tb)
		env = append(env, "PLUGBOARD_DATABASE_URL="+testenv.PostgresURL(tb),
			"PLUGBOARD_REDIS_URL="+redisURL, "PLUGBOARD_REDIS_PREFIX="+prefix)
	}
	startProc(tb, "registry", filepath.Join(bin, "plugboard-registry"), env)
	waitTCP(tb, regAddr)
	c := &cluster{tb: tb}
	for i := range n {
		addr := testenv.FreeAddr(tb)
		// One at a time: the first migrates the database and makes the
		// admin; the data directory (master key, feed token) is shared.
		startProc(tb, fmt.Sprintf("core %d", i), filepath.Join(bin, "plugboard-core"), append(env, "PLUGBOARD_CORE_LISTEN="+addr))
		waitTCP(tb, addr)
		c.cores = append(c.cores, "http://"+addr)
	}
	for i := range n {
		addr := testenv.FreeAddr(tb)
		startProc(tb, fmt.Sprintf("gateway %d", i), filepath.Join(bin, "plugboard-gateway"),
			append(env, "PLUGBOARD_GATEWAY_SITE=http://"+addr, "PLUGBOARD_CORE_URL="+c.cores[i]))
		waitTCP(tb, addr)
		c.gateways = append(c.gateways, "http://"+addr)
	}
	keyCmd := exec.Command(filepath.Join(bin, "plugboard-gateway"), "service-key", "hello")
	keyCmd.Env = env
	key, err := keyCmd.Output()
	if err != nil {
		tb.Fatalf("plugboard-gateway service-key hello: %v", err)
	}
	plugin := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "PLUGBOARD_GATEWAY_SIGNING_SECRET=") })
	startProc(tb, "hello-go", filepath.Join(bin, "hello-go"), append(plugin, "PLUGBOARD_SERVICE_KEY="+strings.TrimSpace(string(key)),
		"PLUGBOARD_SERVICE_PORT="+port(testenv.FreeAddr(tb)), "PLUGBOARD_HEARTBEAT_INTERVAL=1s"))
	for _, gw := range c.gateways {
		hc := &client{base: gw}
		testenv.Eventually(tb, 30*time.Second, func() bool { return hc.status("GET", "/api/hello/hello", nil, "") == 200 },
			"hello-go never routable at "+gw)
	}
	c.admin = c.login(0, "", "admin", adminPassword).Access
	return c
}

// tokens are a login's answer.
type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

// call sends a request to base with a bearer token (none if empty) and
// fails unless the answer is 2xx; it decodes a JSON answer into out.
func (c *cluster) call(base, method, path, token string, body, out any) {
	c.tb.Helper()
	if code, b := send(base, method, path, token, body); code/100 != 2 {
		c.tb.Fatalf("%s %s%s: %d %s", method, base, path, code, b)
	} else if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.tb.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func (c *cluster) login(core int, tenant, user, password string) tokens {
	c.tb.Helper()
	var tk tokens
	c.call(c.cores[core], "POST", "/api/auth/login", "", map[string]string{"tenant": tenant, "username": user, "password": password}, &tk)
	return tk
}

// tenant creates a tenant with hello enabled and returns its id.
func (c *cluster) tenant(name string) string {
	c.tb.Helper()
	var t struct {
		ID string `json:"id"`
	}
	c.call(c.cores[0], "POST", "/api/tenants", c.admin, map[string]any{"name": name, "enabled_services": []string{"hello"}}, &t)
	return t.ID
}

// user creates a user of tenantID and returns its id and a login's tokens.
func (c *cluster) user(tenantID, tenant, name, role string) (string, tokens) {
	c.tb.Helper()
	var u struct {
		ID string `json:"id"`
	}
	c.call(c.cores[0], "POST", "/api/users", c.admin,
		map[string]string{"tenant_id": tenantID, "username": name, "password": name + "-password-1", "role": role}, &u)
	return u.ID, c.login(0, tenant, name, name+"-password-1")
}

// expect waits until every gateway answers GET path with want for the
// credential ("pb_…" is an API key, anything else a bearer token).
func (c *cluster) expect(what, cred, path string, want int) {
	c.tb.Helper()
	for _, gw := range c.gateways {
		var got int
		ok := waitFor(5*time.Second, func() bool { got = probe(gw, path, cred); return got == want })
		if !ok {
			c.tb.Fatalf("%s: gateway %s answers %s with %d, want %d", what, gw, path, got, want)
		}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var probeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// probe answers GET base+path's status with cred.
func probe(base, path, cred string) int {
	req, _ := http.NewRequest("GET", base+path, nil)
	if strings.HasPrefix(cred, "pb_") {
		req.Header.Set("X-API-Key", cred)
	} else if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func send(base, method, path, token string, body any) (int, []byte) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// builtBin is the directory buildOnce built into, removed by TestMain.
var builtBin string

// buildOnce builds the binaries once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	bin, err := os.MkdirTemp("", "plugboard-revocation-bin-")
	if err != nil {
		return "", err
	}
	builtBin = bin
	for out, pkg := range map[string]string{
		"plugboard-registry": "./cmd/registry", "plugboard-core": "./cmd/core",
		"plugboard-gateway": "./cmd/gateway", "hello-go": "./examples/hello-go",
	} {
		if err := goBuild(filepath.Join(bin, out), pkg); err != nil {
			return "", err
		}
	}
	return bin, nil
})

// goBuild builds pkg (relative to the module root) into out.
func goBuild(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// TestMain removes the binaries buildOnce built (150 MB) once every test
// and benchmark has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(builtBin)
	}
	os.Exit(code)
}

func buildBinaries(tb testing.TB) string {
	tb.Helper()
	bin, err := buildOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// TestRevocationReachesEveryGateway makes, through either core, each
// change issue 15 lists and checks that both gateways enforce it; the
// embedded stack (one of each, SQLite, no Redis) passes the same test.
func TestRevocationReachesEveryGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs the platform as processes")
	}
	bin := buildBinaries(t)
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"postgres+redis, two cores, two gateways", true}, {"embedded", false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, bin, tc.shared)
			other := func(i int) int { return i % len(c.cores) } // alternates the cores when there are two
			const whoami, admin = "/api/hello/whoami", "/api/hello/admin"

			acme := c.tenant("acme")
			_, alice := c.user(acme, "acme", "alice", "user")
			c.expect("alice", alice.Access, whoami, 200)

			// Enabled services, both ways, through each core.
			c.call(c.cores[other(1)], "DELETE", "/api/tenants/"+acme+"/services/hello", c.admin, nil, nil)
			c.expect("hello disabled for acme", alice.Access, whoami, 403)
			c.call(c.cores[other(0)], "PUT", "/api/tenants/"+acme+"/services/hello", c.admin, nil, nil)
			c.expect("hello enabled again", alice.Access, whoami, 200)

			// A tenant quota set and cleared: followed like the rest.
			c.call(c.cores[other(1)], "PATCH", "/api/tenants/"+acme, c.admin,
				map[string]any{"rate_limit": map[string]any{"requests": 2, "per": "1h", "key": "tenant"}}, nil)
			c.expect("acme's quota of 2 an hour", alice.Access, whoami, 429)
			c.call(c.cores[other(0)], "PATCH", "/api/tenants/"+acme, c.admin, map[string]any{"rate_limit": nil}, nil)
			c.expect("acme's quota cleared", alice.Access, whoami, 200)

			// An API key, revoked.
			var key struct {
				APIKey struct {
					ID string `json:"id"`
				} `json:"api_key"`
				Key string `json:"key"`
			}
			c.call(c.cores[0], "POST", "/api/api-keys", alice.Access, map[string]any{"name": "alice"}, &key)
			c.expect("alice's key", key.Key, whoami, 200)
			c.call(c.cores[other(1)], "DELETE", "/api/api-keys/"+key.APIKey.ID, c.admin, nil, nil)
			c.expect("alice's key revoked", key.Key, whoami, 401)

			// A tenant_admin demoted: the admin endpoint refuses the old token.
			bobID, bob := c.user(acme, "acme", "bob", "tenant_admin")
			c.expect("bob, tenant_admin", bob.Access, admin, 200)
			c.call(c.cores[other(1)], "PATCH", "/api/users/"+bobID, c.admin, map[string]string{"role": "user"}, nil)
			c.expect("bob demoted", bob.Access, admin, 401)

			// A user deactivated, a user deleted.
			carolID, carol := c.user(acme, "acme", "carol", "user")
			c.expect("carol", carol.Access, whoami, 200)
			c.call(c.cores[other(0)], "PATCH", "/api/users/"+carolID, c.admin, map[string]any{"is_active": false}, nil)
			c.expect("carol deactivated", carol.Access, whoami, 401)
			daveID, dave := c.user(acme, "acme", "dave", "user")
			c.expect("dave", dave.Access, whoami, 200)
			c.call(c.cores[other(1)], "DELETE", "/api/users/"+daveID, c.admin, nil, nil)
			c.expect("dave deleted", dave.Access, whoami, 401)

			// Sessions: logout, a password change, a refresh token reused.
			_, frank := c.user(acme, "acme", "frank", "user")
			c.expect("frank", frank.Access, whoami, 200)
			c.expect("frank at core, through the gateway", frank.Access, "/api/auth/me", 200)
			c.call(c.cores[other(1)], "POST", "/api/auth/logout", "", map[string]string{"refresh_token": frank.Refresh}, nil)
			c.expect("frank logged out", frank.Access, whoami, 401)
			c.expect("frank's old token at core, through the gateway", frank.Access, "/api/auth/me", 401)
			_, erin := c.user(acme, "acme", "erin", "user")
			c.expect("erin", erin.Access, whoami, 200)
			c.call(c.cores[other(1)], "POST", "/api/auth/password", erin.Access,
				map[string]string{"current_password": "erin-password-1", "new_password": "erin-password-2"}, nil)
			c.expect("erin changed her password", erin.Access, whoami, 401)
			_, gina := c.user(acme, "acme", "gina", "user")
			var next tokens
			c.call(c.cores[0], "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": gina.Refresh}, &next)
			c.expect("gina refreshed", next.Access, whoami, 200)
			if code, _ := send(c.cores[other(1)], "POST", "/api/auth/refresh", "", map[string]string{"refresh_token": gina.Refresh}); code != 401 {
				t.Fatalf("a reused refresh token: %d, want 401", code)
			}
			c.expect("gina's session ended by the reuse", next.Access, whoami, 401)

			// Tenants deactivated and deleted.
			beta := c.tenant("beta")
			_, hank := c.user(beta, "beta", "hank", "user")
			c.expect("hank", hank.Access, whoami, 200)
			c.call(c.cores[other(1)], "PATCH", "/api/tenants/"+beta, c.admin, map[string]any{"is_active": false}, nil)
			c.expect("beta deactivated", hank.Access, whoami, 401)
			// A tenant can be deleted once it has no users: its tenant
			// key (one bound to no user) stops.
			gamma := c.tenant("gamma")
			var gkey struct {
				Key string `json:"key"`
			}
			c.call(c.cores[0], "POST", "/api/api-keys", c.admin, map[string]any{"name": "gamma", "tenant_id": gamma, "tenant_key": true}, &gkey)
			c.expect("gamma's tenant key", gkey.Key, whoami, 200)
			c.call(c.cores[other(0)], "DELETE", "/api/tenants/"+gamma, c.admin, nil, nil)
			c.expect("gamma deleted", gkey.Key, whoami, 401)

			// A super_admin demoted no longer bypasses tenant enablement:
			// the default tenant has not enabled hello.
			var me struct {
				Tenant struct {
					ID string `json:"id"`
				} `json:"tenant"`
			}
			c.call(c.cores[0], "GET", "/api/auth/me", c.admin, nil, &me)
			rootID, root := c.user(me.Tenant.ID, "", "root2", "super_admin")
			c.expect("root2, super_admin", root.Access, whoami, 200)
			c.call(c.cores[other(1)], "PATCH", "/api/users/"+rootID, c.admin, map[string]string{"role": "user"}, nil)
			c.expect("root2 demoted", root.Access, whoami, 401)
		})
	}
}

// BenchmarkRevocationPropagation measures "core commit → every gateway
// enforces it" on the shared stack: each iteration disables or enables
// hello for a tenant through one core or the other, alternately, and
// times from core's answer until both gateways answer accordingly. Run
// with -benchtime 200x or more; it reports p50 and p99 in ms.
//
//	go test ./examples/e2e -run '^$' -bench RevocationPropagation -benchtime 400x
func BenchmarkRevocationPropagation(b *testing.B) {
	bin := buildBinaries(b)
	c := startCluster(b, bin, true)
	acme := c.tenant("acme")
	_, alice := c.user(acme, "acme", "alice", "user")
	c.expect("alice", alice.Access, "/api/hello/whoami", 200)
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		method, want := "DELETE", 403
		if i%2 == 1 {
			method, want = "PUT", 200
		}
		start := time.Now() // before the call: its answer comes after the commit
		c.call(c.cores[i%2], method, "/api/tenants/"+acme+"/services/hello", c.admin, nil, nil)
		var wg sync.WaitGroup
		for _, gw := range c.gateways {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !waitFor(5*time.Second, func() bool { return probe(gw, "/api/hello/whoami", alice.Access) == want }) {
					b.Errorf("change %d: %s did not answer %d within 5s", i, gw, want)
				}
			}()
		}
		wg.Wait()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}
