package dynamicupstreams_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/internal/testenv"
)

// recorder is a plugin instance that keeps every request it received,
// after reading its body (so that trailers are in), and answers by path:
// /boom 500, /fail 502, anything else 200.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Clone(r.Context()))
		rec.mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/boom"):
			http.Error(w, "application error", http.StatusInternalServerError)
		case strings.HasSuffix(r.URL.Path, "/fail"):
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			fmt.Fprintf(w, "ok %s", r.URL.Path)
		}
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) last(t *testing.T) *http.Request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("the instance received nothing")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

func (rec *recorder) addr() string { return rec.Listener.Addr().String() }

func (s *stack) registerRecorder(name string, rec *recorder, basePath string) {
	s.t.Helper()
	host, port, _ := net.SplitHostPort(rec.addr())
	var p int
	fmt.Sscan(port, &p)
	s.registerAt(name, host, p, basePath)
	testenv.Eventually(s.t, 2*time.Second, func() bool { return s.get("/api/"+name+"/ready").status == 200 }, name+" never routable")
}

// raw sends one request as written on a new connection and returns the
// status line and the connection's reader (the caller closes conn).
func (s *stack) raw(t *testing.T, req string) (conn net.Conn, rd *bufio.Reader, status string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.gateway, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	rd = bufio.NewReader(conn)
	status, _ = rd.ReadString('\n')
	return conn, rd, strings.TrimSpace(status)
}

// readRest reads the rest of a response (headers and a Content-Length
// body) from rd.
func readRest(rd *bufio.Reader) (http.Header, string) {
	h := http.Header{}
	n := 0
	for {
		line, err := rd.ReadString('\n')
		if err != nil || line == "\r\n" {
			break
		}
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		h.Add(k, strings.TrimSpace(v))
	}
	fmt.Sscan(h.Get("Content-Length"), &n)
	body := make([]byte, n)
	io.ReadFull(rd, body)
	return h, string(body)
}

// TestGatewayHardening performs the attacks of issue 11 that reach a plugin
// through the gateway (findings 1, 3, 6, 11, 14, 15, 22) against the
// shipped Caddyfile.
func TestGatewayHardening(t *testing.T) {
	s := startStack(t, "PLUGBOARD_GATEWAY_PRESERVE_HOST", "keephost, other", "PLUGBOARD_GATEWAY_MAX_BODY", "1KB")
	gwHost := strings.TrimPrefix(s.gateway, "http://")

	// Finding 1: the client's Host used to reach the instance, so an
	// instance registered at a local listener passed its host check.
	t.Run("InstanceGetsItsOwnHostPort", func(t *testing.T) {
		rec := newRecorder(t)
		s.registerRecorder("hosty", rec, "")
		req, _ := http.NewRequest("GET", s.gateway+"/api/hosty/x", nil)
		req.Host = "127.0.0.1:2019" // what the attacker sent to pass the admin API's check
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		got := rec.last(t)
		if got.Host != rec.addr() {
			t.Fatalf("the instance received Host %q, want its own %q", got.Host, rec.addr())
		}
		if xfh := got.Header.Get("X-Forwarded-Host"); xfh != "127.0.0.1:2019" {
			t.Fatalf("X-Forwarded-Host %q, want the client's Host", xfh)
		}
		// A service the operator listed in preserve_host keeps the client's.
		keep := newRecorder(t)
		s.registerRecorder("keephost", keep, "")
		if a := s.get("/api/keephost/x"); a.status != 200 {
			t.Fatalf("keephost: %d", a.status)
		}
		if got := keep.last(t).Host; got != gwHost {
			t.Fatalf("preserve_host service received Host %q, want the client's %q", got, gwHost)
		}
	})

	// Finding 3: "Upgrade: h2c" went through; the plugin's 101 opened a
	// tunnel in which later requests skipped jwt_auth.
	t.Run("H2CUpgradeIsNotForwarded", func(t *testing.T) {
		var upgrades, tunnelled atomic.Int64
		var plain atomic.Pointer[http.Request]
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") == "" {
				plain.Store(r.Clone(r.Context()))
				io.WriteString(w, "plain")
				return
			}
			upgrades.Add(1)
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\n\r\n")
			rw.Flush()
			n, _ := io.Copy(io.Discard, rw) // whatever comes through the tunnel
			tunnelled.Add(n)
		}))
		t.Cleanup(be.Close)
		host, port, _ := net.SplitHostPort(be.Listener.Addr().String())
		var p int
		fmt.Sscan(port, &p)
		s.registerAt("tunnel", host, p, "/v1")
		testenv.Eventually(t, 2*time.Second, func() bool { return s.get("/api/tunnel/ready").status == 200 }, "tunnel never routable")

		for _, upgrade := range []string{"h2c", "H2C", "HTTP/2.0", "websocket, h2c"} {
			conn, rd, status := s.raw(t, "GET /api/tunnel/public HTTP/1.1\r\nHost: "+gwHost+
				"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: "+upgrade+"\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
			if strings.Contains(status, "101") {
				conn.Close()
				t.Fatalf("Upgrade: %s: the gateway relayed the plugin's %q", upgrade, status)
			}
			readRest(rd)
			// The attack's second step, on the same socket: it must meet
			// the gateway again (here: the console), not the plugin.
			io.WriteString(conn, "POST /v1/admin HTTP/1.1\r\nHost: "+gwHost+"\r\nX-Plugboard-Roles: super_admin\r\nContent-Length: 0\r\n\r\n")
			status2, _ := rd.ReadString('\n')
			conn.Close()
			if !strings.HasPrefix(status, "HTTP/1.1 200") || !strings.HasPrefix(status2, "HTTP/1.1 ") {
				t.Fatalf("Upgrade: %s: answers %q then %q", upgrade, status, status2)
			}
			if r := plain.Load(); r == nil || r.Header.Get("Upgrade") != "" || r.Header.Get("Http2-Settings") != "" {
				t.Fatalf("Upgrade: %s: the plugin saw %v", upgrade, r)
			}
		}
		if upgrades.Load() != 0 || tunnelled.Load() != 0 {
			t.Fatalf("the plugin saw %d upgrade requests and %d bytes through a tunnel", upgrades.Load(), tunnelled.Load())
		}
		// WebSocket and other upgrades still pass (WebSocketUpgradePassesThrough).
		upgrades.Store(0)
		conn, _, status := s.raw(t, "GET /api/tunnel/ws HTTP/1.1\r\nHost: "+gwHost+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		conn.Close()
		if !strings.Contains(status, "101") {
			t.Fatalf("websocket upgrade answered %q", status)
		}
	})

	// Finding 6: three application 500s, or broken client bodies, took a
	// healthy single instance out of rotation (503) for 10 s.
	t.Run("ClientsCannotEjectAnInstance", func(t *testing.T) {
		rec := newRecorder(t)
		s.registerRecorder("victim6", rec, "")
		healthy := func(when string) {
			t.Helper()
			if a := s.get("/api/victim6/items"); a.status != 200 {
				t.Fatalf("after %s, a healthy path answered %d: %s", when, a.status, a.body)
			}
		}
		for range 4 {
			if a := s.get("/api/victim6/boom"); a.status != 500 {
				t.Fatalf("boom: %d", a.status)
			}
		}
		healthy("four application 500s")
		for range 4 {
			conn, rd, status := s.raw(t, "POST /api/victim6/items HTTP/1.1\r\nHost: "+gwHost+
				"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz-not-a-chunk-size\r\n\r\n")
			h, _ := readRest(rd)
			conn.Close()
			if !strings.HasPrefix(status, "HTTP/1.1 400") || h.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("malformed chunked body: %q, %v", status, h)
			}
		}
		healthy("four malformed chunked bodies")
		for range 4 { // the client goes away in the middle of its body
			conn, err := net.Dial("tcp", gwHost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /api/victim6/items HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", gwHost)
			time.Sleep(50 * time.Millisecond) // let the gateway start proxying the body
			conn.Close()
		}
		time.Sleep(100 * time.Millisecond) // let it see the aborts: there is nothing to wait for
		healthy("four aborted bodies")
		big := strings.Repeat("x", 600)
		for range 4 { // past max_size (1KB here) in chunks: no Content-Length to refuse up front
			conn, rd, status := s.raw(t, "POST /api/victim6/items HTTP/1.1\r\nHost: "+gwHost+
				"\r\nTransfer-Encoding: chunked\r\n\r\n"+fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", len(big), big, len(big), big))
			h, _ := readRest(rd)
			conn.Close()
			if !strings.HasPrefix(status, "HTTP/1.1 413") || h.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("oversized chunked body: %q, %v", status, h)
			}
		}
		healthy("four oversized chunked bodies")

		// The instance's own 502s still take it out: passive health works.
		bad := newRecorder(t)
		s.registerRecorder("bad502", bad, "")
		for range 3 {
			s.get("/api/bad502/fail")
		}
		if a := s.get("/api/bad502/items"); a.status != 503 {
			t.Fatalf("after three 502s from its only instance: %d, want 503", a.status)
		}
	})

	// Finding 11 and the path side of finding 4.
	t.Run("PathParametersAndDoubleEncodingAreRefused", func(t *testing.T) {
		rec := newRecorder(t)
		s.registerRecorder("servlet", rec, "/v1")
		before := rec.count()
		for _, p := range []string{"/api/servlet/..;/x", "/api/servlet/admin;x=1", "/api/servlet/a/..;/..;/x",
			"/api/servlet/admin%3Bx", "/api/servlet/%2561dmin", "/api/servlet/%252e%252e/x", "/api/servlet;x/admin"} {
			a := s.get(p)
			if a.status != 400 {
				t.Errorf("%s: %d %q", p, a.status, a.body)
				continue
			}
			a.problem(t)
		}
		// The path guard refuses "..;" on every route.
		if a := s.get("/assets/..;/index.html"); a.status != 400 {
			t.Errorf("console ..; : %d", a.status)
		}
		if rec.count() != before {
			t.Fatalf("%d refused requests reached the plugin: %s", rec.count()-before, rec.last(t).URL)
		}
		if a := s.get("/api/servlet/100%25"); a.status != 200 || a.body != "ok /v1/100%" {
			t.Fatalf("a single encoded %%: %d %q", a.status, a.body)
		}
	})

	// Finding 14: a client's Connection header named the gateway's headers
	// as hop-by-hop, and reverse_proxy deleted them.
	t.Run("ConnectionCannotStripGatewayHeaders", func(t *testing.T) {
		rec := newRecorder(t)
		s.registerRecorder("hop", rec, "")
		for _, connection := range []string{
			"Connection: keep-alive, X-Plugboard-Signature, X-Plugboard-User-Id, x-plugboard-service, X-Request-Id, X-Forwarded-For, Via, X-Custom\r\n",
			// Several Connection lines, odd case and spacing.
			"Connection: keep-alive\r\nconnection: X-CUSTOM ,x-PLUGBOARD-service\r\nCONNECTION:\tvia ,  X-Request-ID,x-forwarded-for\r\n",
		} {
			conn, rd, status := s.raw(t, "GET /api/hop/x HTTP/1.1\r\nHost: "+gwHost+"\r\n"+connection+"X-Custom: hop\r\n\r\n")
			readRest(rd)
			conn.Close()
			if !strings.Contains(status, "200") {
				t.Fatalf("status %q", status)
			}
			got := rec.last(t).Header
			for _, k := range []string{"X-Plugboard-Service", "X-Request-Id", "X-Forwarded-For", "Via"} {
				if got.Get(k) == "" {
					t.Errorf("the client's Connection header %q stripped %s: %v", connection, k, got)
				}
			}
			if got.Get("X-Custom") != "" {
				t.Errorf("a client's own hop-by-hop header was forwarded (%q)", connection)
			}
		}
	})

	// Finding 15: request trailers (X-Plugboard-Roles: super_admin) went on
	// to the plugin after every header check.
	t.Run("ClientTrailersAreDropped", func(t *testing.T) {
		rec := newRecorder(t)
		s.registerRecorder("trailer", rec, "")
		conn, rd, status := s.raw(t, "POST /api/trailer/x HTTP/1.1\r\nHost: "+gwHost+"\r\n"+
			"Transfer-Encoding: chunked\r\nTrailer: X-Plugboard-Roles, X-Other\r\n\r\n"+
			"5\r\nhello\r\n0\r\nX-Plugboard-Roles: super_admin\r\nX-Other: 1\r\n\r\n")
		readRest(rd)
		conn.Close()
		if !strings.Contains(status, "200") {
			t.Fatalf("status %q", status)
		}
		got := rec.last(t)
		if len(got.Trailer) != 0 || got.Header.Get("X-Plugboard-Roles") != "" {
			t.Fatalf("trailers reached the plugin: %v (header %v)", got.Trailer, got.Header)
		}
	})

	// Finding 22: the console may not be framed or sniffed; plugins' answers
	// are theirs.
	t.Run("ConsoleSecurityHeaders", func(t *testing.T) {
		want := map[string]string{
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff", "Referrer-Policy": "no-referrer",
		}
		for _, p := range []string{"/", "/services/deep/link", "/index.html"} {
			a := s.get(p)
			for k, v := range want {
				if a.header.Get(k) != v {
					t.Errorf("%s: %s = %q, want %q", p, k, a.header.Get(k), v)
				}
			}
		}
		rec := newRecorder(t)
		s.registerRecorder("framed", rec, "")
		if a := s.get("/api/framed/x"); a.header.Get("X-Frame-Options") != "" || a.header.Get("Content-Security-Policy") != "" {
			t.Errorf("a plugin's answer got the console's headers: %v", a.header)
		}
	})
}

// TestGatewaySendsRegistryToken: the gateway reads the registry (listing
// and change feed) with the registry token (issue 11, finding 16), from
// PLUGBOARD_REGISTRY_TOKEN; the registry here refuses reads without it.
func TestGatewaySendsRegistryToken(t *testing.T) {
	var refused atomic.Int64
	s := startStackWith(t, stackOptions{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.Header.Get("Authorization") != "Bearer "+token {
				refused.Add(1)
				http.Error(w, "registry credential required", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	rec := newRecorder(t)
	s.registerRecorder("tokened", rec, "") // routable only if the listing or the feed was read
	if refused.Load() != 0 {
		t.Fatalf("%d reads of the gateway had no token", refused.Load())
	}
}

// TestListenBindsOneInterface: PLUGBOARD_GATEWAY_LISTEN=127.0.0.1:port
// used to become the site http://127.0.0.1:port, a Host matcher on every
// interface that answered other Hosts with an empty 200. The launchers now
// make it http://:port with PLUGBOARD_GATEWAY_BIND=127.0.0.1 (issue 11,
// finding 18).
func TestListenBindsOneInterface(t *testing.T) {
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	s := startStackWith(t, stackOptions{addr: addr}, "PLUGBOARD_GATEWAY_SITE", "http://:"+port, "PLUGBOARD_GATEWAY_BIND", "127.0.0.1")
	// 127.0.0.2 is this machine too, but not the bound interface.
	if c, err := net.DialTimeout("tcp", "127.0.0.2:"+port, time.Second); err == nil {
		c.Close()
		t.Fatalf("the gateway bound to 127.0.0.1 accepts connections on 127.0.0.2:%s", port)
	}
	req, _ := http.NewRequest("GET", s.gateway+"/", nil)
	req.Host = "localhost:" + port
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Plugboard") {
		t.Fatalf("Host localhost:%s: %d %q", port, resp.StatusCode, body)
	}
}

// TestHeaderUpKeepsTheInstanceHost: a header_up in the plugin route's
// reverse_proxy makes Caddy put the client's Host back before each try, so
// such a Caddyfile must also set Host, or it does not load.
func TestHeaderUpKeepsTheInstanceHost(t *testing.T) {
	withHeaderUp := func(lines string) func(string) string {
		return func(shipped string) string {
			out := strings.Replace(shipped, "\t\t\tdynamic dynamic_upstreams\n", "\t\t\tdynamic dynamic_upstreams\n"+lines, 1)
			if out == shipped {
				t.Fatal("no dynamic dynamic_upstreams line in the Caddyfile")
			}
			return out
		}
	}
	t.Setenv("PLUGBOARD_GATEWAY_ADMIN", "off")
	t.Setenv("PLUGBOARD_GATEWAY_SITE", "http://"+testenv.FreeAddr(t))
	t.Setenv("PLUGBOARD_REGISTRY_URL", "http://127.0.0.1:1")
	t.Setenv("PLUGBOARD_GATEWAY_SIGNING_SECRET", "gateway-test-signing-secret")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if err := gatewaytest.TryCaddyfile(t, "../../Caddyfile", withHeaderUp("\t\t\theader_up X-Extra yes\n")); err == nil || !strings.Contains(err.Error(), "header_up Host {vars.pb_host}") {
		caddy.Stop()
		t.Fatalf("a header_up without Host loaded: %v", err)
	}

	s := startStackEdited(t, withHeaderUp("\t\t\theader_up X-Extra yes\n\t\t\theader_up Host {vars.pb_host}\n"))
	rec := newRecorder(t)
	s.registerRecorder("extra", rec, "")
	req, _ := http.NewRequest("GET", s.gateway+"/api/extra/x", nil)
	req.Host = "127.0.0.1:2019"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := rec.last(t); got.Host != rec.addr() || got.Header.Get("X-Extra") != "yes" {
		t.Fatalf("Host %q (want %q), X-Extra %q", got.Host, rec.addr(), got.Header.Get("X-Extra"))
	}
}
