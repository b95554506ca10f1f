// Package e2e runs the whole platform as a user would — the built
// binaries started by `plugboard run`, the example plugins as processes —
// and follows a plugin's life through the gateway.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/sdk"
)

const adminPassword = "e2e-admin-password"

// stack is a running `plugboard run`.
type stack struct {
	t        *testing.T
	bin, dir string
	env      []string
	gateway  string
	token    string // the super admin's access token
}

func build(t testing.TB, bin string, pkgs map[string]string) {
	t.Helper()
	for out, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, out), pkg)
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
}

func startStack(t *testing.T) *stack {
	bin := t.TempDir()
	build(t, bin, map[string]string{
		"plugboard": "./cmd/plugboard", "plugboard-registry": "./cmd/registry",
		"plugboard-core": "./cmd/core", "plugboard-gateway": "./cmd/gateway", "hello-go": "./examples/hello-go",
	})
	dir := t.TempDir()
	gw := testenv.FreeAddr(t)
	s := &stack{t: t, bin: bin, dir: dir, gateway: "http://" + gw}
	s.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"PLUGBOARD_DATA_DIR=" + filepath.Join(dir, "data"),
		"PLUGBOARD_REGISTRY_LISTEN=" + testenv.FreeAddr(t), "PLUGBOARD_CORE_LISTEN=" + testenv.FreeAddr(t),
		"PLUGBOARD_GATEWAY_SITE=http://" + gw, "PLUGBOARD_GATEWAY_ADMIN=off",
		"PLUGBOARD_GATEWAY_CADDYFILE=" + abs(t, "../../Caddyfile"), "PLUGBOARD_WEB_ROOT=" + abs(t, "../../web/placeholder"),
		"PLUGBOARD_ADMIN_PASSWORD=" + adminPassword, "PLUGBOARD_CORE_BCRYPT_COST=4",
		"PLUGBOARD_REGISTRY_HEALTH_INTERVAL=500ms",
	}
	cmd := exec.Command(filepath.Join(bin, "plugboard"), "run")
	cmd.Env = s.env
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "stack running") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("stack output:\n%s", log.String())
		}
	})
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		t.Fatalf("the stack did not start:\n%s", log.String())
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	s.call("POST", "/api/auth/login", map[string]string{"username": "admin", "password": adminPassword}, &tk)
	s.token = tk.AccessToken
	return s
}

func abs(t testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (s *stack) file(name string) string {
	b, err := os.ReadFile(filepath.Join(s.dir, "data", name))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// call sends a request to the gateway with the admin's token and returns
// the status (decoding a JSON answer into out when given).
func (s *stack) call(method, path string, body, out any) (int, string) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.gateway+path, rd)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		s.t.Errorf("%s %s: %d without problem+json: %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, string(b)
}

// plugin is a running example plugin process.
// plugin is an example plugin the suite runs, and the address it serves.
type plugin struct {
	*proc
	addr string
}

// pluginEnv is the environment of a plugin of service serving on port,
// with the service's own key as `plugboard-gateway service-key` prints it
// (more may override it: the last value of a variable wins).
func (s *stack) pluginEnv(service, port string, more ...string) []string {
	return append(append(append([]string{}, s.env...),
		"PLUGBOARD_SERVICE_PORT="+port,
		"PLUGBOARD_REGISTRY_URL=http://"+envValue(s.env, "PLUGBOARD_REGISTRY_LISTEN"),
		"PLUGBOARD_REGISTRY_TOKEN="+s.file("registry.token"),
		"PLUGBOARD_SERVICE_KEY="+s.serviceKey(service)), more...)
}

// serviceKey runs `plugboard-gateway service-key service`.
func (s *stack) serviceKey(service string) string {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "plugboard-gateway"), "service-key", service)
	cmd.Env = s.env
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("plugboard-gateway service-key %s: %v", service, err)
	}
	return strings.TrimSpace(string(out))
}

func (s *stack) startHello(t *testing.T, more ...string) *plugin {
	t.Helper()
	addr := testenv.FreeAddr(t)
	p := &plugin{startProc(t, "hello-go "+addr, filepath.Join(s.bin, "hello-go"),
		s.pluginEnv("hello", port(addr), append([]string{"PLUGBOARD_HEARTBEAT_INTERVAL=1s"}, more...)...)), addr}
	t.Cleanup(p.kill) // before startProc's cleanup: no drain to wait for
	return p
}

func (s *stack) startNotes(t *testing.T) *plugin {
	t.Helper()
	addr := testenv.FreeAddr(t)
	return &plugin{startProc(t, "notes-py "+addr, "python3", s.pluginEnv("notes", port(addr), "PYTHONUNBUFFERED=1"),
		abs(t, "../notes-py/notes.py")), addr}
}

func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestPluginLifeThroughTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole stack")
	}
	s := startStack(t)

	// A plugin starts and is reachable through the gateway.
	one := s.startHello(t)
	testenv.Eventually(t, 15*time.Second, func() bool { c, _ := s.call("GET", "/api/hello/hello", nil, nil); return c == 200 }, "hello-go never became routable")
	if c, body := s.call("GET", "/api/hello/whoami", nil, nil); c != 200 || !strings.Contains(body, "super_admin") {
		t.Fatalf("whoami with the admin's token: %d %s", c, body)
	}
	// The gateway signs the query too, and the Go SDK checks it.
	if c, body := s.call("GET", "/api/hello/whoami?verbose=1&x=a%20b", nil, nil); c != 200 {
		t.Fatalf("whoami with a query: %d %s", c, body)
	}
	admin := s.token
	s.token = ""
	if c, _ := s.call("GET", "/api/hello/whoami", nil, nil); c != 401 {
		t.Fatalf("whoami without a token: %d", c)
	}
	if c, _ := s.call("GET", "/api/hello/hello", nil, nil); c != 200 {
		t.Fatalf("the public endpoint without a token: %d", c)
	}

	// A second instance starts and receives traffic.
	two := s.startHello(t)
	seen := map[string]bool{}
	testenv.Eventually(t, 15*time.Second, func() bool {
		_, body := s.call("GET", "/api/hello/hello", nil, nil)
		for _, p := range []*plugin{one, two} {
			if strings.Contains(body, p.addr) {
				seen[p.addr] = true
			}
		}
		return len(seen) == 2
	}, "the second instance never received traffic")

	// One instance dies without deregistering: requests keep succeeding.
	one.cmd.Process.Signal(syscall.SIGKILL)
	one.cmd.Wait()
	for i := range 30 {
		if c, body := s.call("GET", "/api/hello/hello", nil, nil); c != 200 {
			t.Fatalf("request %d after SIGKILL: %d %s", i, c, body)
		}
	}

	// The other stops cleanly: deregistered, the gateway answers 503 at once.
	two.cmd.Process.Signal(syscall.SIGTERM)
	took := testenv.Eventually(t, time.Second, func() bool { c, _ := s.call("GET", "/api/hello/hello", nil, nil); return c == 503 },
		"the gateway did not answer 503 within a second of SIGTERM")
	t.Logf("SIGTERM → 503 in %s", took)
	if err := two.cmd.Wait(); err != nil {
		t.Fatalf("hello-go did not exit cleanly on SIGTERM: %v\n%s", err, two.log.String())
	}

	// The Python plugin joins too, and sees the caller's tenant.
	s.startNotes(t)
	testenv.Eventually(t, 15*time.Second, func() bool { c, _ := s.call("GET", "/api/notes/health", nil, nil); return c == 200 }, "notes-py never became routable")
	s.token = admin
	var note struct {
		ID string `json:"id"`
	}
	if c, body := s.call("POST", "/api/notes/notes", map[string]string{"title": "t", "text": "hello from Go"}, &note); c != 201 || note.ID == "" {
		t.Fatalf("create a note through the gateway: %d %s", c, body)
	}
	if c, body := s.call("GET", "/api/notes/notes?limit=5", nil, nil); c != 200 || !strings.Contains(body, "hello from Go") {
		t.Fatalf("list notes through the gateway (with a query the Python SDK checks): %d %s", c, body)
	}
	s.token = ""
	if c, _ := s.call("GET", "/api/notes/notes", nil, nil); c != 401 {
		t.Fatalf("notes without a token: %d", c)
	}

	// It restarts and is routable again within a second of registering.
	three := s.startHello(t)
	testenv.Eventually(t, 15*time.Second, func() bool { return strings.Contains(three.log.String(), "registered") }, "the restarted plugin did not register")
	took = testenv.Eventually(t, time.Second, func() bool { c, _ := s.call("GET", "/api/hello/hello", nil, nil); return c == 200 },
		"the restarted plugin was not routable within a second of registering")
	t.Logf("registered → routable in %s", took)

	// Per-service keys and their rotation. The gateway signs requests to
	// hello with hello's key only: a hello instance holding notes' key
	// refuses them, as one holding only the key of a future master does.
	// During a rotation's overlap the plugin holds the new key and the
	// previous one, and accepts the gateway's signature before and after
	// the gateway switches.
	three.kill()
	futureKey := sdk.ServiceKey([]byte("the-next-master-secret-0123456789"), "hello")
	for _, tc := range []struct {
		name string
		env  []string
		want int
	}{
		{"notes' key", []string{"PLUGBOARD_SERVICE_KEY=" + s.serviceKey("notes")}, 401},
		{"only the next key", []string{"PLUGBOARD_SERVICE_KEY=" + futureKey}, 401},
		{"the rotation's overlap", []string{"PLUGBOARD_SERVICE_KEY=" + futureKey, "PLUGBOARD_SERVICE_KEY_PREVIOUS=" + s.serviceKey("hello")}, 200},
	} {
		p := s.startHello(t, tc.env...)
		s.token = "" // anonymous: nothing signed, so any key answers the public endpoint
		testenv.Eventually(t, 15*time.Second, func() bool { c, _ := s.call("GET", "/api/hello/hello", nil, nil); return c == 200 },
			tc.name+": hello-go never became routable")
		s.token = admin
		if c, body := s.call("GET", "/api/hello/whoami", nil, nil); c != tc.want {
			t.Fatalf("%s: whoami through the gateway: %d, want %d: %s", tc.name, c, tc.want, body)
		}
		s.token = ""
		p.cmd.Process.Signal(syscall.SIGTERM) // deregisters
		p.cmd.Wait()
		testenv.Eventually(t, 15*time.Second, func() bool { c, _ := s.call("GET", "/api/hello/hello", nil, nil); return c == 503 },
			tc.name+": the killed instance stayed routable")
	}
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) WriteString(s string) {
	b.Write([]byte(s))
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
