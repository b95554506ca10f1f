package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core/cored"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/sdk"
)

// TestRunStartsAndStopsTheStack builds the binaries as `make build` does,
// runs `plugboard run` twice on one data directory, and checks that each run
// serves (the registry's API through the gateway too), keeps its data, and
// leaves no process behind on Ctrl-C (SIGINT).
func TestRunStartsAndStopsTheStack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	bin := t.TempDir()
	for _, c := range []struct{ out, pkg string }{
		{"plugboard", "."},
		{"plugboard-registry", "../registry"},
		{"plugboard-core", "../core"},
		{"plugboard-gateway", "../gateway"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, c.out), c.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", c.pkg, err, out)
		}
	}
	data := filepath.Join(t.TempDir(), "data")
	regAddr, coreAddr, gwAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)

	for round := 1; round <= 2; round++ {
		cmd := exec.Command(filepath.Join(bin, "plugboard"), "run")
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"PLUGBOARD_DATA_DIR=" + data,
			"PLUGBOARD_REGISTRY_LISTEN=" + regAddr,
			"PLUGBOARD_CORE_LISTEN=" + coreAddr,
			"PLUGBOARD_GATEWAY_SITE=http://" + gwAddr,
			"PLUGBOARD_GATEWAY_ADMIN=off",
			"PLUGBOARD_GATEWAY_CADDYFILE=../../Caddyfile",
			"PLUGBOARD_WEB_ROOT=../../web/placeholder",
			"HOME=" + t.TempDir(),
		}
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1000)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var log strings.Builder
		waitFor := func(want string) {
			t.Helper()
			timeout := time.After(60 * time.Second)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("round %d: output ended before %q:\n%s", round, want, log.String())
					}
					log.WriteString(l + "\n")
					if strings.Contains(l, want) {
						return
					}
				case <-timeout:
					cmd.Process.Kill()
					t.Fatalf("round %d: no %q within 60s:\n%s", round, want, log.String())
				}
			}
		}
		waitFor("registry token")
		waitFor("stack running")
		regToken, err := os.ReadFile(filepath.Join(data, "registry.token"))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"http://" + regAddr + "/readyz", "http://" + coreAddr + "/readyz", "http://" + gwAddr + "/api/registry/services"} {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(regToken)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("round %d: GET %s: %v %v", round, u, err, resp)
			}
			resp.Body.Close()
		}
		// The registry's instances are not for anonymous clients, through
		// the gateway either (issue 11, finding 16).
		if resp, err := http.Get("http://" + gwAddr + "/api/registry/services?include_inactive=true"); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("round %d: anonymous list through the gateway: %v %v", round, err, resp)
		} else {
			resp.Body.Close()
		}
		for _, db := range []string{"registry.db", "core.db"} {
			if _, err := os.Stat(filepath.Join(data, db)); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		children := childPIDs(t, cmd.Process.Pid)
		if len(children) != 3 {
			t.Fatalf("round %d: launcher has %d children, want 3", round, len(children))
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		go func() {
			for l := range lines {
				log.WriteString(l + "\n")
			}
		}()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: launcher exited with %v", round, err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: launcher did not stop on SIGINT", round)
		}
		for _, pid := range children {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("round %d: child %d still running after Ctrl-C", round, pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// childPIDs lists the processes whose parent is pid (Linux /proc).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var kids []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, n)
		}
	}
	return kids
}

// TestGatewayURL: the launcher reaches the gateway where it binds
// (PLUGBOARD_GATEWAY_LISTEN=host:port becomes site http://:port bound to
// host).
func TestGatewayURL(t *testing.T) {
	for _, tc := range []struct{ site, bind, want string }{
		{"", "", "http://127.0.0.1:8080"},
		{"http://:18080", "127.0.0.1", "http://127.0.0.1:18080"},
		{"http://:18080", "10.1.2.3", "http://10.1.2.3:18080"},
		{"http://:18080", "::1", "http://[::1]:18080"},
		{"http://:18080", "0.0.0.0", "http://127.0.0.1:18080"},
		{"https://localhost:8443", "", "https://localhost:8443"},
	} {
		if got := gatewayURL(tc.site, tc.bind); got != tc.want {
			t.Errorf("gatewayURL(%q, %q) = %q, want %q", tc.site, tc.bind, got, tc.want)
		}
	}
}

// TestHelpAndBadValues: `plugboard --help` lists every variable of the
// stack (the README says each binary does), and a bad gateway value is
// named before anything starts (issue 13: PLUGBOARD_GATEWAY_LB_POLICY=bogus
// used to surface as Caddy's "module not registered").
func TestHelpAndBadValues(t *testing.T) {
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"--help"}, map[string]string{}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"PLUGBOARD_REGISTRY_LISTEN", "PLUGBOARD_CORE_LISTEN", "PLUGBOARD_GATEWAY_LB_POLICY", "PLUGBOARD_GATEWAY_SIGNING_SECRET", "PLUGBOARD_DATA_DIR"} {
		if strings.Count(out.String(), "  "+name+"\n") != 1 {
			t.Errorf("--help lists %s %d times, want once:\n%s", name, strings.Count(out.String(), "  "+name+"\n"), out.String())
		}
	}
	env := map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir(), "PLUGBOARD_GATEWAY_LB_POLICY": "bogus"}
	err := run(t.Context(), []string{"run"}, env, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), `PLUGBOARD_GATEWAY_LB_POLICY: "bogus" is not one of`) || !strings.Contains(err.Error(), "least_conn") {
		t.Fatalf("run with a bogus policy: %v", err)
	}
}

func TestDemoLoginLines(t *testing.T) {
	var out strings.Builder
	plugins := []plugin{{service: "hello", private: "/whoami"}, {service: "notes", private: `/notes -d '{"text":"hi"}'`}}
	printDemoLogin(&out, "http://127.0.0.1:8080", cored.Config{AdminUser: "admin", AdminPassword: "s3cret-pass"}, plugins)
	for _, want := range []string{
		`curl -s http://127.0.0.1:8080/api/auth/login -d '{"username":"admin","password":"s3cret-pass"}'`,
		`curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/hello/whoami`,
		`curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/notes/notes -d '{"text":"hi"}'`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %s in\n%s", want, out.String())
		}
	}
	out.Reset()
	printDemoLogin(&out, "http://x", cored.Config{AdminUser: "admin"}, nil)
	if !strings.Contains(out.String(), `"password":"<the password core printed on the first start>"`) {
		t.Errorf("placeholder: %s", out.String())
	}
}

// TestPluginEnv: an example plugin gets its own service key and not the
// gateway's master secret.
func TestPluginEnv(t *testing.T) {
	const master = "demo-master-secret-0123456789"
	env := pluginEnv([]string{"PLUGBOARD_GATEWAY_SIGNING_SECRET=" + master, "PLUGBOARD_LOG_FORMAT=text"}, master,
		plugin{service: "notes", env: []string{"PLUGBOARD_SERVICE_PORT=9102"}})
	joined := strings.Join(env, "\n")
	if strings.Contains(joined, master) {
		t.Errorf("the master secret reaches the plugin: %v", env)
	}
	for _, want := range []string{"PLUGBOARD_LOG_FORMAT=text", "PLUGBOARD_SERVICE_PORT=9102", "PLUGBOARD_SERVICE_KEY=" + sdk.ServiceKey([]byte(master), "notes")} {
		if !slices.Contains(env, want) {
			t.Errorf("no %s in %v", want, env)
		}
	}
}
