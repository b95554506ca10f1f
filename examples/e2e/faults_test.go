package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// TestFaults runs the whole platform as separate processes on a PostgreSQL
// cluster and a Redis server of its own (never the machine's shared ones),
// drives steady traffic through the gateway, and injects issue 12's faults
// one after another: a PostgreSQL restart and stop, a Redis kill, a core
// kill. Each phase prints, per stream, requests sent and failed and their
// statuses, and checks the targets: no 401/403 caused by an outage, no bare
// 500, the user never locked out, JWT and API-key routes served throughout
// core's absence (from the gateway's cache).
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs its own PostgreSQL and Redis")
	}
	pgBin := "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL's initdb is not at %s", pgBin)
		}
		t.Skip("no PostgreSQL server binaries here")
	}
	bin := t.TempDir()
	build(t, bin, map[string]string{
		"plugboard-registry": "./cmd/registry", "plugboard-core": "./cmd/core",
		"plugboard-gateway": "./cmd/gateway", "hello-go": "./examples/hello-go",
	})
	pg := startPostgres(t, pgBin)
	redisAddr := testenv.FreeAddr(t)
	redis := startProc(t, "redis", "redis-server", nil, "--bind", "127.0.0.1", "--port", port(redisAddr), "--save", "", "--appendonly", "no")
	waitTCP(t, redisAddr)

	// A Caddyfile whose caches expire within the core outage, so that the
	// gateway's stale answers are what keeps the routes up.
	caddyfile, err := os.ReadFile(abs(t, "../../Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(caddyfile), "jwt_auth {", "jwt_auth {\n\t\t\tkey_cache_ttl 2s", 1)
	cfPath := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(cfPath, []byte(edited), 0o600)

	data := t.TempDir()
	regAddr, coreAddr, gwAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PLUGBOARD_DATA_DIR=" + data,
		"PLUGBOARD_DATABASE_URL=" + pg.url, "PLUGBOARD_REDIS_URL=redis://" + redisAddr + "/0",
		"PLUGBOARD_REGISTRY_LISTEN=" + regAddr, "PLUGBOARD_REGISTRY_URL=http://" + regAddr,
		"PLUGBOARD_CORE_LISTEN=" + coreAddr, "PLUGBOARD_CORE_URL=http://" + coreAddr,
		"PLUGBOARD_GATEWAY_SITE=http://" + gwAddr, "PLUGBOARD_GATEWAY_ADMIN=off",
		"PLUGBOARD_GATEWAY_CADDYFILE=" + cfPath, "PLUGBOARD_WEB_ROOT=" + abs(t, "../../web/placeholder"),
		"PLUGBOARD_GATEWAY_ACCESS_LOG=discard", "PLUGBOARD_LOG_LEVEL=warn",
		"PLUGBOARD_ADMIN_PASSWORD=" + adminPassword, "PLUGBOARD_CORE_BCRYPT_COST=4",
		"PLUGBOARD_REGISTRY_TOKEN=fault-suite-registry-token-0123456789",
		"PLUGBOARD_GATEWAY_SIGNING_SECRET=fault-suite-signing-secret-0123456789",
	}
	startProc(t, "registry", filepath.Join(bin, "plugboard-registry"), env)
	core := startProc(t, "core", filepath.Join(bin, "plugboard-core"), env)
	startProc(t, "gateway", filepath.Join(bin, "plugboard-gateway"), env)
	for _, a := range []string{regAddr, coreAddr, gwAddr} {
		waitTCP(t, a)
	}
	startHello := func() *proc {
		return startProc(t, "hello-go", filepath.Join(bin, "hello-go"), append(append([]string{}, env...),
			"PLUGBOARD_SERVICE_PORT="+port(testenv.FreeAddr(t)), "PLUGBOARD_HEARTBEAT_INTERVAL=1s"))
	}
	startHello()
	second := startHello()

	gw := "http://" + gwAddr
	c := &client{base: gw}
	testenv.Eventually(t, 30*time.Second, func() bool { return c.status("GET", "/api/hello/hello", nil, "") == 200 }, "hello-go never routable")

	// A plain user of the default tenant, which enables hello, and the
	// user's API key.
	var admin struct {
		AccessToken string `json:"access_token"`
	}
	c.json(t, "POST", "/api/auth/login", map[string]string{"username": "admin", "password": adminPassword}, "", &admin)
	var me struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
	}
	c.json(t, "GET", "/api/auth/me", nil, admin.AccessToken, &me)
	c.json(t, "PUT", "/api/tenants/"+me.Tenant.ID+"/services/hello", nil, admin.AccessToken, nil)
	c.json(t, "POST", "/api/users", map[string]string{"username": "worker", "password": "worker-password-1", "role": "user"}, admin.AccessToken, nil)
	var userTok struct {
		AccessToken string `json:"access_token"`
	}
	c.json(t, "POST", "/api/auth/login", map[string]string{"username": "worker", "password": "worker-password-1"}, "", &userTok)
	var key struct {
		Key string `json:"key"`
	}
	c.json(t, "POST", "/api/api-keys", map[string]any{"name": "worker"}, userTok.AccessToken, &key)
	if userTok.AccessToken == "" || key.Key == "" {
		t.Fatalf("setup: token %q key %q", userTok.AccessToken, key.Key)
	}

	// A configuration watcher, as a plugin keeps one: it follows the
	// stream, reconnecting whenever it ends, and keeps the latest values.
	watch := newConfigWatcher(gw, userTok.AccessToken, "faults")
	t.Cleanup(watch.stop)
	c.json(t, "PUT", "/api/config/faults/flag", map[string]any{"value": "steady"}, admin.AccessToken, nil)
	testenv.Eventually(t, 10*time.Second, func() bool { return watch.get("flag") == `"steady"` }, "the watcher never saw the first value")

	streams := []stream{
		{name: "public", method: "GET", path: "/api/hello/hello"},
		{name: "jwt", method: "GET", path: "/api/hello/whoami", bearer: userTok.AccessToken},
		{name: "api-key", method: "GET", path: "/api/hello/whoami", apiKey: key.Key},
		{name: "me", method: "GET", path: "/api/auth/me", bearer: userTok.AccessToken, core: true},
		{name: "login", method: "POST", path: "/api/auth/login", core: true,
			body: `{"username":"worker","password":"worker-password-1"}`},
	}
	phase := func(name string, fault func(), outage bool) {
		t.Helper()
		stats := run(c, streams, fault)
		t.Logf("%s:", name)
		for _, s := range streams {
			st := stats[s.name]
			t.Logf("  %-8s sent %4d failed %4d statuses %s", s.name, st.sent, st.failed, st.String())
			for code, n := range st.codes {
				switch {
				case code == 401 || code == 403 || code == 429 || code == 502:
					t.Errorf("%s: %s got %d × %d: an outage must be a 503, never a refusal of valid credentials nor a bad gateway", name, s.name, n, code)
				case code == 500:
					t.Errorf("%s: %s got %d bare 500s", name, s.name, n)
				case !s.core && outage && code != 200:
					t.Errorf("%s: %s got %d × %d; plugin routes must ride the outage out", name, s.name, n, code)
				}
			}
		}
	}

	// Each phase lets traffic run for a while under one fault: the sleeps
	// are the observation windows, not waits for a condition.
	phase("steady", func() { time.Sleep(2 * time.Second) }, false)
	phase("postgres restart", func() { pg.ctl(t, "restart", "-m", "fast"); time.Sleep(time.Second) }, true)
	phase("postgres stopped 5 s", func() {
		pg.ctl(t, "stop", "-m", "fast")
		time.Sleep(5 * time.Second)
		pg.ctl(t, "start")
		time.Sleep(2 * time.Second)
	}, true)
	phase("redis killed 5 s", func() {
		redis.kill()
		time.Sleep(time.Second)
		// A change written while Redis is down reaches the watcher anyway.
		c.json(t, "PUT", "/api/config/faults/flag", map[string]any{"value": "written-without-redis"}, admin.AccessToken, nil)
		time.Sleep(4 * time.Second)
		redis = startProc(t, "redis", "redis-server", nil, "--bind", "127.0.0.1", "--port", port(redisAddr), "--save", "", "--appendonly", "no")
		waitTCP(t, redisAddr)
		time.Sleep(2 * time.Second)
	}, true)
	testenv.Eventually(t, 15*time.Second, func() bool { return watch.get("flag") == `"written-without-redis"` },
		"a configuration change written while Redis was down never reached the open watch")
	phase("an instance killed", func() {
		time.Sleep(time.Second)
		second.kill() // in-flight and later requests move to the other instance
		time.Sleep(3 * time.Second)
	}, true)
	phase("core killed 8 s", func() {
		core.kill()
		time.Sleep(8 * time.Second) // > the 2-s key cache: stale answers carry the routes
		core = startProc(t, "core", filepath.Join(bin, "plugboard-core"), env)
		waitTCP(t, coreAddr)
		time.Sleep(2 * time.Second)
	}, true)
	// After everything, the user logs in: no outage locked them out.
	if code := c.status("POST", "/api/auth/login", nil, `{"username":"worker","password":"worker-password-1"}`); code != 200 {
		t.Errorf("login after the faults: %d", code)
	}
}

// configWatcher follows GET /api/config/watch for one service, reconnecting
// whenever the stream ends (a reconnect event, an outage), and keeps each
// key's latest value as JSON text.
type configWatcher struct {
	mu     sync.Mutex
	values map[string]string
	done   chan struct{}
}

func newConfigWatcher(base, token, service string) *configWatcher {
	w := &configWatcher{values: map[string]string{}, done: make(chan struct{})}
	go func() {
		for {
			select {
			case <-w.done:
				return
			default:
			}
			w.follow(base, token, service)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return w
}

func (w *configWatcher) stop() { close(w.done) }

func (w *configWatcher) get(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.values[key]
}

func (w *configWatcher) follow(base, token, service string) {
	req, _ := http.NewRequest("GET", base+"/api/config/watch?service="+service, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return
	}
	go func() { <-w.done; resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var event string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		case line == "" && event != "":
			w.apply(event, strings.Join(data, "\n"))
			if event == "reconnect" {
				return
			}
			event, data = "", nil
		}
	}
}

func (w *configWatcher) apply(event, data string) {
	type entry struct {
		Key     string          `json:"key"`
		Deleted bool            `json:"deleted"`
		Value   json.RawMessage `json:"value"`
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch event {
	case "snapshot":
		var snap struct {
			Entries []entry `json:"entries"`
		}
		if json.Unmarshal([]byte(data), &snap) == nil {
			w.values = map[string]string{}
			for _, e := range snap.Entries {
				w.values[e.Key] = string(e.Value)
			}
		}
	case "change":
		var e entry
		if json.Unmarshal([]byte(data), &e) == nil {
			if e.Deleted {
				delete(w.values, e.Key)
			} else {
				w.values[e.Key] = string(e.Value)
			}
		}
	}
}

// stream is one kind of request sent in a loop during a phase.
type stream struct {
	name, method, path, body string
	bearer, apiKey           string
	core                     bool // answered by core (503 allowed while it or its database is down)
}

type tally struct {
	sent, failed int
	codes        map[int]int
}

func (t tally) String() string {
	var keys []int
	for k := range t.codes {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%d:%d ", k, t.codes[k])
	}
	return strings.TrimSpace(b.String())
}

// run sends each stream's request in a loop (one at a time per stream,
// every 20 ms) while fault runs, and counts the answers.
func run(c *client, streams []stream, fault func()) map[string]tally {
	stop := make(chan struct{})
	var mu sync.Mutex
	out := map[string]tally{}
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl := tally{codes: map[int]int{}}
			for {
				select {
				case <-stop:
					mu.Lock()
					out[s.name] = tl
					mu.Unlock()
					return
				case <-time.After(20 * time.Millisecond):
				}
				code := c.send(s)
				tl.sent++
				tl.codes[code]++
				if code != 200 {
					tl.failed++
				}
			}
		}()
	}
	fault()
	close(stop)
	wg.Wait()
	return out
}

type client struct{ base string }

var httpClient = &http.Client{Timeout: 10 * time.Second}

func (c *client) send(s stream) int {
	req, _ := http.NewRequest(s.method, c.base+s.path, strings.NewReader(s.body))
	if s.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+s.bearer)
	}
	if s.apiKey != "" {
		req.Header.Set("X-API-Key", s.apiKey)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (c *client) status(method, path string, body any, raw string) int {
	return c.send(stream{method: method, path: path, body: raw})
}

func (c *client) json(t *testing.T, method, path string, body any, token string, out any) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// proc is a child process of the suite.
type proc struct {
	cmd *exec.Cmd
	log *syncBuffer
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func startProc(t testing.TB, name, exe string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(exe, args...)
	if env != nil {
		cmd.Env = env
	}
	p := &proc{cmd: cmd, log: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.log.String())
		}
	})
	return p
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func waitTCP(t testing.TB, addr string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, addr+" never listened")
}

// postgres is a throwaway cluster: initdb into a temporary directory, run
// as the postgres user when the suite runs as root (PostgreSQL refuses
// root).
type postgres struct {
	bin, dir, addr, url string
	asUser              string
}

func startPostgres(t *testing.T, bin string) *postgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "plugboard-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &postgres{bin: bin, dir: dir, addr: testenv.FreeAddr(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = "postgres"
	}
	p.run(t, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync")
	p.ctl(t, "start")
	t.Cleanup(func() {
		p.run(nil, filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "stop", "-m", "immediate")
	})
	p.url = "postgres://postgres@" + p.addr + "/postgres?sslmode=disable"
	return p
}

func (p *postgres) ctl(t *testing.T, args ...string) {
	a := append([]string{"-D", filepath.Join(p.dir, "data"), "-w", "-l", filepath.Join(p.dir, "log"),
		"-o", "-p " + port(p.addr) + " -c listen_addresses=127.0.0.1 -k " + p.dir + " -c fsync=off"}, args...)
	p.run(t, filepath.Join(p.bin, "pg_ctl"), a...)
}

func (p *postgres) run(t *testing.T, exe string, args ...string) {
	var cmd *exec.Cmd
	if p.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.asUser, "--", exe}, args...)...)
	} else {
		cmd = exec.Command(exe, args...)
	}
	if out, err := cmd.CombinedOutput(); err != nil && t != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(exe), args, err, out)
	}
}
