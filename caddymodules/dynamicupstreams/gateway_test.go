package dynamicupstreams_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/client"
	"github.com/plugboard/plugboard/registry/registrytest"

	_ "github.com/plugboard/plugboard/caddymodules"
	"github.com/plugboard/plugboard/caddymodules/dynamicupstreams"
	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
)

const token = "gateway-test-token-0123"

// registryRead is the credential registry reads need (issue 11, finding 16).
var registryRead = http.Header{"Authorization": {"Bearer " + token}}

// public makes a service's unlisted endpoints public to jwt_auth.
var public = json.RawMessage(`{"auth":"public"}`)

// stack is a registry and a gateway loaded from the shipped Caddyfile,
// both in process.
type stack struct {
	t        testing.TB
	registry *client.Client
	regURL   string
	regStop  func()
	gateway  string // http://127.0.0.1:port
	logFile  string // the access log
}

// startStack runs a registry (SQLite) and the gateway. Caddy is process
// global, so tests that use it must not run in parallel.
func startStack(t testing.TB, extraEnv ...string) *stack {
	t.Helper()
	return startStackEdited(t, nil, extraEnv...)
}

// startStackEdited is startStack with the shipped Caddyfile's text passed
// through edit first (nil: as shipped).
func startStackEdited(t testing.TB, edit func(string) string, extraEnv ...string) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{edit: edit}, extraEnv...)
}

// stackOptions change what startStackWith runs.
type stackOptions struct {
	edit func(string) string // passes the shipped Caddyfile's text through (nil: as shipped)
	// wrap wraps the registry's handler (nil: as it is).
	wrap func(http.Handler) http.Handler
	// addr is the gateway's address (default: a free loopback port).
	addr string
}

// startStackWith is startStack with options.
func startStackWith(t testing.TB, opts stackOptions, extraEnv ...string) *stack {
	t.Helper()
	edit := opts.edit
	reg := registrytest.Start(t, registrytest.Options{Token: token, Wrap: opts.wrap})

	addr := opts.addr
	if addr == "" {
		addr = testenv.FreeAddr(t)
	}
	logFile := filepath.Join(t.TempDir(), "access.log")
	env := map[string]string{
		"PLUGBOARD_GATEWAY_ACCESS_LOG":     "file " + logFile,
		"PLUGBOARD_GATEWAY_SITE":           "http://" + addr,
		"PLUGBOARD_GATEWAY_ADMIN":          "off",
		"PLUGBOARD_REGISTRY_URL":           reg.URL,
		"PLUGBOARD_CORE_URL":               "http://127.0.0.1:1",
		"PLUGBOARD_WEB_ROOT":               "../../web/placeholder",
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": "gateway-test-signing-secret",
		"PLUGBOARD_REGISTRY_TOKEN":         token, // the gateway reads the registry with it
		"PLUGBOARD_DATA_DIR":               t.TempDir(),
		"XDG_DATA_HOME":                    t.TempDir(),
		"XDG_CONFIG_HOME":                  t.TempDir(),
	}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		env[extraEnv[i]] = extraEnv[i+1]
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	gatewaytest.LoadCaddyfile(t, "../../Caddyfile", edit)
	s := &stack{t: t, registry: reg.Client, regURL: reg.URL, regStop: reg.Stop, gateway: "http://" + addr, logFile: logFile}
	testenv.Eventually(t, 5*time.Second, func() bool {
		resp, err := http.Get(s.gateway + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, "the gateway never answered")
	return s
}

// accessLines reads the access log as lines by request ID.
func accessLines(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access log line is not JSON: %v: %s", err, l)
		}
		if id, _ := m["request_id"].(string); id != "" {
			lines[id] = m
		}
	}
	return lines
}

// gatewayDials returns how many instances of service the running gateway's
// snapshot routes to.
func gatewayDials(service string) int {
	app, err := caddy.ActiveContext().AppIfConfigured(dynamicupstreams.AppName)
	if err != nil {
		return 0
	}
	snap := app.(*dynamicupstreams.App).Snapshot()
	if snap == nil || snap.Services[service] == nil {
		return 0
	}
	return len(snap.Services[service].Dials)
}

// backend is a plugin instance that records what reached it.
type backend struct {
	*httptest.Server
	name string
	hits atomic.Int64
	last atomic.Pointer[http.Request]
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.last.Store(r.Clone(context.Background()))
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			http.Error(w, "boom", http.StatusBadGateway)
		case strings.HasSuffix(r.URL.Path, "/events"):
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(200 * time.Millisecond) // spaced, to show the gateway streams rather than buffers
			}
		case strings.HasSuffix(r.URL.Path, "/echo-body"):
			io.Copy(w, r.Body)
		default:
			w.Header().Set("X-Backend", name)
			fmt.Fprintf(w, "%s %s", name, r.URL.RequestURI())
		}
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) hostPort() (string, int) {
	host, port, _ := net.SplitHostPort(b.Listener.Addr().String())
	var p int
	fmt.Sscan(port, &p)
	return host, p
}

func (s *stack) register(name string, b *backend, basePath string) *registry.Instance {
	s.t.Helper()
	host, port := b.hostPort()
	return s.registerAt(name, host, port, basePath)
}

func (s *stack) registerAt(name, host string, port int, basePath string) *registry.Instance {
	s.t.Helper()
	in, err := s.registry.Register(context.Background(), &registry.Instance{
		Name: name, Host: host, Port: port, BasePath: basePath,
		Endpoints: []registry.Endpoint{{Path: "/items/{id}", Method: "GET", IsPublic: true}},
		Metadata:  json.RawMessage(`{"auth":"public"}`), // routing is under test here; jwt_auth has its own tests
	})
	if err != nil {
		s.t.Fatalf("register %s: %v", name, err)
	}
	return in
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (s *stack) get(path string) answer {
	s.t.Helper()
	return s.do("GET", path, nil, nil)
}

func (s *stack) do(method, path string, body io.Reader, header http.Header) answer {
	s.t.Helper()
	req, err := http.NewRequest(method, s.gateway+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// problem checks a problem+json answer and returns its type and detail.
func (a answer) problem(t *testing.T) (typ, detail string) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d, content type %q, body %q: want problem+json", a.status, ct, a.body)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(a.body), &p); err != nil || p.Status != a.status {
		t.Fatalf("problem body %q: %v", a.body, err)
	}
	return p.Type, p.Detail
}

func TestGateway(t *testing.T) {
	s := startStack(t)

	t.Run("RoutesWithBasePathAndQuery", func(t *testing.T) {
		b := newBackend(t, "orders-1")
		s.register("orders", b, "/v1")
		var a answer
		testenv.Eventually(t, 2*time.Second, func() bool { a = s.get("/api/orders/items/42?a=1&b=x%20y"); return a.status == 200 }, "orders never routable")
		if a.body != "orders-1 /v1/items/42?a=1&b=x%20y" {
			t.Fatalf("backend saw %q", a.body)
		}
		r := b.last.Load()
		if r.Header.Get("X-Request-Id") == "" || r.Header.Get("X-Forwarded-For") == "" || r.Header.Get("X-Plugboard-Service") != "orders" {
			t.Fatalf("upstream headers: %v", r.Header)
		}
		if a.header.Get("X-Request-Id") != r.Header.Get("X-Request-Id") {
			t.Fatalf("response X-Request-Id %q, upstream saw %q", a.header.Get("X-Request-Id"), r.Header.Get("X-Request-Id"))
		}
		a = s.do("GET", "/api/orders/items/1", nil, http.Header{"X-Request-Id": {"client-chosen-1"},
			"X-Plugboard-User-Id": {"spoofed"}, "X-Plugboard-Service": {"billing"},
			// CGI-style servers (WSGI, PHP) read _ as -: HTTP_X_PLUGBOARD_ROLES.
			// Caddy drops header names with underscores (unless the server's
			// expected_underscore_headers names them); keep it that way.
			"X_Plugboard_Roles": {"super_admin"}, "x-plugboard_tenant-id": {"t9"}})
		if up := b.last.Load().Header; up.Get("X-Plugboard-User-Id") != "" || up.Get("X-Plugboard-Service") != "orders" {
			t.Fatalf("client-sent identity headers reached the plugin: %v", up)
		}
		for k := range b.last.Load().Header {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "X-Plugboard-Roles") || strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "X-Plugboard-Tenant-Id") {
				t.Fatalf("client-sent identity header %s reached the plugin", k)
			}
		}
		if got := b.last.Load().Header.Get("X-Request-Id"); got != "client-chosen-1" || a.header.Get("X-Request-Id") != "client-chosen-1" {
			t.Fatalf("client request id not kept: upstream %q, response %q", got, a.header.Get("X-Request-Id"))
		}
		if a := s.get("/api/orders"); a.body != "orders-1 /v1/" {
			t.Fatalf("service root reached %q", a.body)
		}
	})

	t.Run("UnknownServiceIs404Problem", func(t *testing.T) {
		a := s.get("/api/nosuch/x")
		if a.status != 404 {
			t.Fatalf("status %d", a.status)
		}
		if typ, detail := a.problem(t); typ != "/problems/not_found" || !strings.Contains(detail, "nosuch") {
			t.Fatalf("problem %s %q", typ, detail)
		}
	})

	t.Run("SpreadsLoadOverThreeInstances", func(t *testing.T) {
		bs := []*backend{newBackend(t, "spread-1"), newBackend(t, "spread-2"), newBackend(t, "spread-3")}
		for _, b := range bs {
			s.register("spread", b, "")
		}
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/spread/x").status == 200 }, "spread never routable")
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 15 {
					if a := s.get("/api/spread/x"); a.status != 200 {
						t.Errorf("status %d", a.status)
					}
				}
			}()
		}
		wg.Wait()
		for _, b := range bs {
			if b.hits.Load() < 10 {
				t.Errorf("%s got %d of 120 requests", b.name, b.hits.Load())
			}
		}
	})

	t.Run("RegisterAndDeregisterWithinASecond", func(t *testing.T) {
		b := newBackend(t, "fresh-1")
		in := s.register("fresh", b, "")
		took := testenv.Eventually(t, time.Second, func() bool { return s.get("/api/fresh/x").status == 200 }, "a registered instance was not routable within 1s")
		t.Logf("registered → routable in %s", took)
		if err := s.registry.Deregister(context.Background(), in.ID); err != nil {
			t.Fatal(err)
		}
		took = testenv.Eventually(t, time.Second, func() bool { return s.get("/api/fresh/x").status == 503 }, "a deregistered instance was still routed after 1s")
		t.Logf("deregistered → out of rotation in %s", took)
		a := s.get("/api/fresh/x")
		if typ, _ := a.problem(t); typ != "/problems/unavailable" || a.header.Get("Retry-After") == "" {
			t.Fatalf("no-instance answer: %s, Retry-After %q", typ, a.header.Get("Retry-After"))
		}
	})

	t.Run("KilledInstanceIsRetriedThenEjected", func(t *testing.T) {
		good := newBackend(t, "kill-good")
		s.register("kill", good, "")
		// The bad instance accepts connections and drops them at once: a
		// transport error after the connection, the harder case.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int64
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		defer ln.Close()
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		var p int
		fmt.Sscan(port, &p)
		if _, err := s.registry.Register(context.Background(), &registry.Instance{Name: "kill", Host: host, Port: p, Metadata: public}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 2*time.Second, func() bool {
			snapReady := s.do("GET", "/api/registry/services?name=kill", nil, registryRead)
			return strings.Count(snapReady.body, `"id"`) == 2
		}, "second instance not registered")
		testenv.Eventually(t, 2*time.Second, func() bool { return gatewayDials("kill") == 2 }, "the feed never brought the second instance to the gateway")
		for i := range 20 {
			if a := s.get("/api/kill/x"); a.status != 200 {
				t.Fatalf("request %d failed with %d: %s", i, a.status, a.body)
			}
		}
		if n := accepted.Load(); n > 1 {
			t.Fatalf("the broken instance got %d attempts; want at most 1 before ejection", n)
		}
	})

	t.Run("UnsafePathsAreRefused", func(t *testing.T) {
		b := newBackend(t, "safe-1")
		s.register("safe", b, "/v1")
		victim := newBackend(t, "victim-1")
		s.register("victim", victim, "/admin")
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/safe/x").status == 200 && s.get("/api/victim/x").status == 200 }, "not routable")
		victimHits := victim.hits.Load()
		for _, p := range []string{
			"/api/safe/../victim/x",
			"/api/safe/%2e%2e/victim/x",
			"/api/safe/%2E%2E/%2E%2E/etc/passwd",
			"/api/safe/..%2fvictim",
			"/api/safe%2f..%2fvictim/x",
			"/api/safe/a%5c..%5cb",
			"/api/safe/a%00b",
			"/api/safe/.%2e/x",
		} {
			a := s.get(p)
			if a.status != 400 && a.status != 404 {
				t.Errorf("%s: status %d, body %q", p, a.status, a.body)
				continue
			}
			a.problem(t)
		}
		// Doubled slashes are merged and stay inside the service.
		if a := s.get("/api/safe//x//y"); a.status != 200 || a.body != "safe-1 /v1/x/y" {
			t.Errorf("doubled slashes: %d %q", a.status, a.body)
		}
		if a := s.get(`/api/safe/a\b`); a.status != 400 {
			t.Errorf("backslash: %d %q", a.status, a.body)
		}
		if victim.hits.Load() != victimHits {
			t.Fatalf("a traversal attempt reached the victim service")
		}
	})

	t.Run("ServerSentEventsStream", func(t *testing.T) {
		b := newBackend(t, "sse-1")
		s.register("sse", b, "")
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/sse/x").status == 200 }, "sse never routable")
		resp, err := http.Get(s.gateway + "/api/sse/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		start := time.Now()
		line, _ := rd.ReadString('\n')
		if line != "data: 0\n" || time.Since(start) > 150*time.Millisecond {
			t.Fatalf("first event %q after %s: the stream is buffered", line, time.Since(start))
		}
	})

	t.Run("WebSocketUpgradePassesThrough", func(t *testing.T) {
		ws := newWebSocketEcho(t)
		host, port := ws.hostPort()
		if _, err := s.registry.Register(context.Background(), &registry.Instance{Name: "ws", Host: host, Port: port, Metadata: public}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/ws/plain").status == 200 }, "ws never routable")
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.gateway, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /api/ws/socket HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", strings.TrimPrefix(s.gateway, "http://"))
		rd := bufio.NewReader(conn)
		status, _ := rd.ReadString('\n')
		if !strings.Contains(status, "101") {
			t.Fatalf("upgrade answer %q", status)
		}
		for line, _ := rd.ReadString('\n'); line != "\r\n"; line, _ = rd.ReadString('\n') {
		}
		fmt.Fprintf(conn, "hello\n")
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if got, _ := rd.ReadString('\n'); got != "hello\n" {
			t.Fatalf("echo %q", got)
		}
	})

	t.Run("BodyLimit", func(t *testing.T) {
		b := newBackend(t, "body-1")
		s.register("body", b, "")
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/body/x").status == 200 }, "body never routable")
		if a := s.do("POST", "/api/body/echo-body", strings.NewReader("small"), nil); a.status != 200 || a.body != "small" {
			t.Fatalf("small body: %d %q", a.status, a.body)
		}
		big := strings.NewReader(strings.Repeat("x", 11<<20))
		if a := s.do("POST", "/api/body/echo-body", big, nil); a.status != 413 {
			t.Fatalf("11 MB body: %d", a.status)
		}
	})

	t.Run("PlatformRoutesAndConsole", func(t *testing.T) {
		if a := s.do("GET", "/api/registry/services", nil, registryRead); a.status != 200 || !strings.HasPrefix(a.body, "[") {
			t.Fatalf("registry through the gateway: %d %.100s", a.status, a.body)
		}
		if a := s.get("/"); a.status != 200 || !strings.Contains(a.body, "Plugboard") {
			t.Fatalf("console: %d", a.status)
		}
		if a := s.get("/services/deep/link"); a.status != 200 || !strings.Contains(a.body, "Plugboard") {
			t.Fatalf("SPA fallback: %d", a.status)
		}
		// Core's prefixes go to core (down here: 503, unreachable), alone, with a
		// subpath, in any case; names that merely start like them are
		// plugin services (unknown here: 404).
		for path, want := range map[string]int{
			"/api/auth/login": 503, "/api/users": 503, "/api/users/": 503, "/api/users/u1/roles": 503,
			"/api/TENANTS/t1": 503, "/api/api-keys": 503, "/api/config/x/y": 503, "/api/roles": 503,
			"/api/audit?limit=1": 503, "/api/usersx/a": 404, "/api/audit-log/a": 404, "/api/configs": 404,
		} {
			if a := s.get(path); a.status != want {
				t.Errorf("%s: %d, want %d", path, a.status, want)
			}
		}
		if a := s.get("/api/users"); a.status != 503 {
			t.Fatalf("core down: %d", a.status)
		} else if typ, detail := a.problem(t); typ != "/problems/unavailable" || strings.Contains(detail, "127.0.0.1") {
			t.Fatalf("core down problem: %s %q (must not leak addresses)", typ, detail)
		}
	})

	t.Run("UpstreamPathAndErrors", func(t *testing.T) {
		b := newBackend(t, "inner-1")
		s.register("inner", b, "/inner")
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/inner/x").status == 200 }, "inner never routable")
		// The request reaches the instance at base_path + path, encoded as
		// sent, with its query.
		for path, want := range map[string]string{
			"/api/inner/a%20b/c?q=1&r=%2F": "inner-1 /inner/a%20b/c?q=1&r=%2F",
			"/api/inner/items/":            "inner-1 /inner/items/",
			"/api/inner":                   "inner-1 /inner/",
		} {
			if a := s.get(path); a.status != 200 || a.body != want {
				t.Errorf("%s: %d %q, want %q", path, a.status, a.body, want)
			}
		}
		// An instance's 502, once the service's retries (2 by default) are
		// used up, reaches the client as the instance sent it.
		hits := b.hits.Load()
		a := s.get("/api/inner/a/fail?x=1")
		if a.status != 502 || a.body != "boom\n" || b.hits.Load()-hits != 3 {
			t.Fatalf("failing instance: %d %q after %d tries", a.status, a.body, b.hits.Load()-hits)
		}
		// A gateway's own error (no instance answered: 502, or 503 once
		// passive health took it out) is a problem that names the path the
		// client asked for, not the instance's.
		s.registerAt("inner-dead", "127.0.0.1", testenv.FreePort(t), "/inner")
		testenv.Eventually(t, 2*time.Second, func() bool { return gatewayDials("inner-dead") == 1 }, "inner-dead never routable")
		a = s.get("/api/inner-dead/a/fail?x=1")
		if a.status != 502 && a.status != 503 {
			t.Fatalf("dead instance: %d %q", a.status, a.body)
		}
		a.problem(t)
		var p struct{ Instance string }
		json.Unmarshal([]byte(a.body), &p)
		if p.Instance != "/api/inner-dead/a/fail" {
			t.Fatalf("problem instance %q, want the client's path", p.Instance)
		}
	})

	t.Run("AccessLog", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				raw, err := os.ReadFile(s.logFile)
				t.Logf("access log (%v):\n%s", err, raw)
			}
		}()
		b := newBackend(t, "logged-1")
		s.register("logged", b, "/v2")
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/logged/x").status == 200 }, "logged never routable")
		ok := s.do("GET", "/api/logged/items/7?q=a%20b", nil, http.Header{"X-Request-Id": {"log-me-1"},
			"Authorization": {"Bearer do-not-log-me"}, "User-Agent": {"access-log-test"}})
		missing := s.do("GET", "/api/nosuchsvc/x", nil, http.Header{"X-Request-Id": {"log-me-2"}})
		unsafe := s.do("GET", "/api/logged/%2e%2e/x", nil, http.Header{"X-Request-Id": {"log-me-3"}})
		if ok.status != 200 || missing.status != 404 || unsafe.status != 400 {
			t.Fatalf("statuses %d %d %d", ok.status, missing.status, unsafe.status)
		}
		// Lines reach the file within the flush interval (1 s).
		var lines map[string]map[string]any
		testenv.Eventually(t, 3*time.Second, func() bool {
			lines = accessLines(t, s.logFile)
			return lines["log-me-1"] != nil && lines["log-me-2"] != nil && lines["log-me-3"] != nil
		}, "the access log lines never arrived")
		got := lines["log-me-1"]
		for k, v := range map[string]any{"method": "GET", "uri": "/api/logged/items/7?q=a%20b", "status": 200.0,
			"service": "logged", "upstream": b.Listener.Addr().String(), "user_agent": "access-log-test", "level": "info"} {
			if got[k] != v {
				t.Errorf("%s = %#v, want %#v (line %v)", k, got[k], v, got)
			}
		}
		if d, _ := got["duration_ms"].(float64); d <= 0 {
			t.Errorf("duration_ms %v", got["duration_ms"])
		}
		if got["size"].(float64) != float64(len(ok.body)) {
			t.Errorf("size %v, body %d bytes", got["size"], len(ok.body))
		}
		if got := lines["log-me-2"]; got["status"] != 404.0 || got["upstream"] != nil {
			t.Errorf("unknown service line: %v", got)
		}
		if got := lines["log-me-3"]; got["status"] != 400.0 {
			t.Errorf("unsafe path line: %v", got)
		}
		raw, _ := os.ReadFile(s.logFile)
		if strings.Contains(string(raw), "do-not-log-me") {
			t.Fatal("the access log holds a credential")
		}
	})

	t.Run("RegistryDownKeepsRouting", func(t *testing.T) {
		b := newBackend(t, "survivor-1")
		s.register("survivor", b, "")
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/survivor/x").status == 200 }, "survivor never routable")
		app, err := caddy.ActiveContext().App(dynamicupstreams.AppName)
		if err != nil {
			t.Fatal(err)
		}
		if st := app.(*dynamicupstreams.App).Staleness(); st != 0 {
			t.Fatalf("staleness %v while the feed is connected", st)
		}
		s.regStop()
		testenv.Eventually(t, 3*time.Second, func() bool { return app.(*dynamicupstreams.App).Staleness() > 0 },
			"the staleness metric did not rise with the registry down")
		for range 5 {
			if a := s.get("/api/survivor/x"); a.status != 200 {
				t.Fatalf("with the registry down: %d %s", a.status, a.body)
			}
		}
	})
}

// wsEcho is an upstream that accepts any Upgrade and echoes lines.
type wsEcho struct{ *httptest.Server }

func newWebSocketEcho(t *testing.T) *wsEcho {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			w.Write([]byte("plain"))
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString(line)
			rw.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return &wsEcho{srv}
}

func (w *wsEcho) hostPort() (string, int) {
	host, port, _ := net.SplitHostPort(w.Listener.Addr().String())
	var p int
	fmt.Sscan(port, &p)
	return host, p
}

// TestGatewayHeadersAndDetails runs the shipped Caddyfile with the real
// registry and a core stand-in behind core's own request-ID middleware
// (internal/httpx), and checks issue 13's two client-visible fixes:
// plugboard_path_guard's refusal reaches the client with its own detail
// (it used to be the generic "The request is malformed."), and a response
// from the registry or core carries X-Request-Id once (plugboard_request_id
// set it and the upstream's echo was added beside it).
func TestGatewayHeadersAndDetails(t *testing.T) {
	core := httptest.NewServer(httpx.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"keys":[]}`)
	})))
	t.Cleanup(core.Close)
	s := startStack(t, "PLUGBOARD_CORE_URL", core.URL)

	t.Run("PathGuardDetailReachesTheClient", func(t *testing.T) {
		for _, p := range []string{"/api/a/%2e%2e/x", "/api/a/../x", "/web/..;/x"} {
			a := s.get(p)
			if a.status != 400 {
				t.Fatalf("%s: %d %q", p, a.status, a.body)
			}
			typ, detail := a.problem(t)
			if typ != httpx.ProblemType(400) || !strings.Contains(detail, `"." or ".." segment`) {
				t.Errorf("%s: type %q, detail %q; want pathguard's message", p, typ, detail)
			}
		}
	})
	t.Run("OneRequestIdFromRegistryAndCore", func(t *testing.T) {
		for _, tc := range []struct{ path, id string }{
			{"/api/registry/services", "rid-registry-1"}, // the registry echoes it
			{"/api/auth/jwks.json", "rid-core-1"},        // core's middleware echoes it
			{"/api/registry/services", ""},               // the gateway's own ID
			{"/", "rid-console-1"},                       // no upstream
		} {
			h := http.Header{"Authorization": {"Bearer " + token}}
			if tc.id != "" {
				h.Set("X-Request-Id", tc.id)
			}
			a := s.do("GET", tc.path, nil, h)
			ids := a.header.Values("X-Request-Id")
			if a.status != 200 || len(ids) != 1 || (tc.id != "" && ids[0] != tc.id) {
				t.Errorf("%s: status %d, X-Request-Id %q; want one, %q", tc.path, a.status, ids, tc.id)
			}
		}
	})
}
