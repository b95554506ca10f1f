package dynamicupstreams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/core/coretest"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/sse"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
)

// fakeCore serves what the gateway reads of core for routing rules, to
// corefeed's contract: the reserved global entries (corefeed.ConfigPath)
// and the change
// feed (reset, then change frames as put publishes them, heartbeats).
type fakeCore struct {
	*httptest.Server
	mu      sync.Mutex
	rev     int64
	entries map[string]corefeed.Event // service → latest config event
	subs    map[chan corefeed.Event]bool
	token   string
}

func newFakeCore(t *testing.T, token string) *fakeCore {
	c := &fakeCore{entries: map[string]corefeed.Event{}, subs: map[chan corefeed.Event]bool{}, token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+corefeed.ConfigPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+c.token {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		c.mu.Lock()
		list := []map[string]any{}
		for _, e := range c.entries {
			if !e.Deleted {
				list = append(list, map[string]any{"scope": "global", "service": e.Service, "key": e.Key, "version": e.Version, "value": e.Value})
			}
		}
		c.mu.Unlock()
		json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("GET "+corefeed.Path, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+c.token {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		ch := make(chan corefeed.Event, 16)
		c.mu.Lock()
		c.subs[ch] = true
		rev := c.rev
		c.mu.Unlock()
		defer func() { c.mu.Lock(); delete(c.subs, ch); c.mu.Unlock() }()
		s, err := sse.Start(w, time.Second)
		if err != nil {
			return
		}
		s.JSON(-1, corefeed.FrameReset, corefeed.Position{Revision: rev})
		s.Flush()
		tick := time.NewTicker(corefeed.HeartbeatEvery)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-ch:
				s.JSON(ev.Revision, corefeed.FrameChange, ev)
			case <-tick.C:
				s.JSON(-1, corefeed.FrameHeartbeat, corefeed.Position{Revision: rev})
			}
			if s.Flush() != nil {
				return
			}
		}
	})
	c.Server = httptest.NewServer(mux)
	t.Cleanup(c.Close)
	return c
}

// put stores service's rules as a new version and publishes the change.
func (c *fakeCore) put(service string, rules string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rev++
	ev := corefeed.Event{Revision: c.rev, Kind: corefeed.Config, At: time.Now(), Service: service, Key: registry.RoutingKey,
		Version: c.entries[service].Version + 1, Value: json.RawMessage(rules)}
	c.entries[service] = ev
	for ch := range c.subs {
		ch <- ev
	}
}

// registerVersion registers backend b as an instance of version of name.
func (s *stack) registerVersion(name, version string, b *backend) *registry.Instance {
	s.t.Helper()
	host, port := b.hostPort()
	in, err := s.registry.Register(context.Background(), &registry.Instance{
		Name: name, Version: version, Host: host, Port: port, BasePath: "/",
		Metadata: public,
	})
	if err != nil {
		s.t.Fatalf("register %s %s: %v", name, version, err)
	}
	return in
}

// TestGrayRelease runs the gateway with two versions of a backend and
// routing rules from a core that follows corefeed's contract.
func TestGrayRelease(t *testing.T) {
	const feedToken = "core-feed-token-for-the-test"
	core := newFakeCore(t, feedToken)
	core.put("shop", `{"weights":{"v1":100,"v2":0}}`) // before the gateway starts: the full load has it
	s := startStack(t, "PLUGBOARD_CORE_URL", core.URL, corefeed.TokenEnv, feedToken)
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	s.registerVersion("shop", "v1", v1)
	s.registerVersion("shop", "v2", v2)
	testenv.Eventually(t, 5*time.Second, func() bool { return gatewayDials("shop") == 2 }, "the gateway never saw both instances")

	served := func(a answer) string { return a.header.Get("X-Backend") }
	t.Run("the loaded rules route every request to v1, and say so", func(t *testing.T) {
		for range 20 {
			a := s.get("/api/shop/x")
			if a.status != 200 || served(a) != "v1" || a.header.Get(registry.VersionHeader) != "v1" || a.header.Get(registry.FallbackHeader) != "" {
				t.Fatalf("status %d, backend %q, version header %q, fallback %q", a.status, served(a), a.header.Get(registry.VersionHeader), a.header.Get(registry.FallbackHeader))
			}
		}
	})
	t.Run("a rule change applies at once", func(t *testing.T) {
		core.put("shop", `{"weights":{"v1":0,"v2":100}}`)
		// No timed assertion: the feed pushes it; the wait only bounds a hang.
		testenv.Eventually(t, 5*time.Second, func() bool { return served(s.get("/api/shop/x")) == "v2" }, "the change never applied")
		for range 10 {
			if a := s.get("/api/shop/x"); served(a) != "v2" || a.header.Get(registry.VersionHeader) != "v2" {
				t.Fatalf("after the change: backend %q, header %q", served(a), a.header.Get(registry.VersionHeader))
			}
		}
	})
	t.Run("the pin header wins over the weights", func(t *testing.T) {
		for range 10 {
			a := s.do("GET", "/api/shop/x", nil, http.Header{"X-Plugboard-Version": {"v1"}})
			if served(a) != "v1" || a.header.Get(registry.VersionHeader) != "v1" {
				t.Fatalf("pinned to v1: backend %q, header %q", served(a), a.header.Get(registry.VersionHeader))
			}
			if got := v1.last.Load().Header.Get("X-Plugboard-Version"); got != "" {
				t.Fatalf("the pin header reached the plugin as %q", got)
			}
		}
		// A pin to a version with no instance falls back, said.
		a := s.do("GET", "/api/shop/x", nil, http.Header{"X-Plugboard-Version": {"v9"}})
		if a.status != 200 || served(a) != "v2" || a.header.Get(registry.FallbackHeader) != "v9" {
			t.Fatalf("pinned to v9: status %d, backend %q, fallback %q", a.status, served(a), a.header.Get(registry.FallbackHeader))
		}
	})
	t.Run("a custom pin header", func(t *testing.T) {
		core.put("shop", `{"header":"X-Canary","weights":{"v1":100}}`)
		testenv.Eventually(t, 5*time.Second, func() bool {
			return served(s.do("GET", "/api/shop/x", nil, http.Header{"X-Canary": {"v2"}})) == "v2"
		}, "the custom pin header never applied")
	})
	t.Run("losing every instance of the canary sends its traffic to the stable version", func(t *testing.T) {
		core.put("shop", `{"weights":{"v1":0,"v2":100}}`)
		testenv.Eventually(t, 5*time.Second, func() bool { return served(s.get("/api/shop/x")) == "v2" }, "the change never applied")
		v2.CloseClientConnections()
		v2.Close()
		for i := range 20 {
			for _, method := range []string{"GET", "POST"} {
				a := s.do(method, "/api/shop/x", nil, nil)
				if a.status != 200 || served(a) != "v1" || a.header.Get(registry.VersionHeader) != "v1" || a.header.Get(registry.FallbackHeader) != "v2" {
					t.Fatalf("%s #%d with v2 dead: status %d, backend %q, version %q, fallback %q, body %q", method, i, a.status, served(a),
						a.header.Get(registry.VersionHeader), a.header.Get(registry.FallbackHeader), a.body)
				}
			}
		}
	})
}

// TestGrayReleaseSplit: with a 90/10 split and no sticky identity, the
// gateway's requests land near the weights (the exact ±2 % over 10,000
// users is registry's TestChooseDistribution; here the wiring).
func TestGrayReleaseSplit(t *testing.T) {
	const feedToken = "core-feed-token-for-the-test"
	core := newFakeCore(t, feedToken)
	core.put("shop", `{"weights":{"v1":90,"v2":10},"sticky":"none"}`)
	s := startStack(t, "PLUGBOARD_CORE_URL", core.URL, corefeed.TokenEnv, feedToken)
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	s.registerVersion("shop", "v1", v1)
	s.registerVersion("shop", "v2", v2)
	testenv.Eventually(t, 5*time.Second, func() bool { return gatewayDials("shop") == 2 }, "the gateway never saw both instances")
	counts := map[string]int{}
	for range 1000 {
		a := s.get("/api/shop/x")
		if a.status != 200 {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		counts[a.header.Get(registry.VersionHeader)]++
	}
	if counts["v2"] < 60 || counts["v2"] > 140 || counts["v1"]+counts["v2"] != 1000 {
		t.Fatalf("1000 requests on a 90/10 split: %v", counts)
	}
	t.Log("split over 1000 requests:", strconv.Itoa(counts["v1"]), "/", fmt.Sprint(counts["v2"]))
}

// childEnv makes the test binary a second gateway (see TestMain): Caddy is
// process-global, so two gateways need two processes.
const childEnv = "PLUGBOARD_DYNAMICUPSTREAMS_TEST_GATEWAY"

func TestMain(m *testing.M) {
	if gatewaytest.ServeChildIfAsked(childEnv, "../../Caddyfile") {
		return
	}
	os.Exit(m.Run())
}

// TestGrayReleaseTwoGateways: one rule change applies on two gateways.
func TestGrayReleaseTwoGateways(t *testing.T) {
	const feedToken = "core-feed-token-for-the-test"
	core := newFakeCore(t, feedToken)
	core.put("shop", `{"weights":{"v1":100}}`)
	s := startStack(t, "PLUGBOARD_CORE_URL", core.URL, corefeed.TokenEnv, feedToken)
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	s.registerVersion("shop", "v1", v1)
	s.registerVersion("shop", "v2", v2)

	second := "http://" + testenv.FreeAddr(t)
	gatewaytest.StartChild(t, childEnv, second, "PLUGBOARD_GATEWAY_ACCESS_LOG=discard")
	version := func(base string) string {
		resp, err := http.Get(base + "/api/shop/x")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.Header.Get(registry.VersionHeader)
	}
	gateways := []string{s.gateway, second}
	for _, g := range gateways {
		testenv.Eventually(t, 10*time.Second, func() bool { return version(g) == "v1" }, "gateway "+g+" never routed to v1")
	}
	start := time.Now()
	core.put("shop", `{"weights":{"v2":100}}`)
	for _, g := range gateways {
		testenv.Eventually(t, 5*time.Second, func() bool { return version(g) == "v2" }, "gateway "+g+" never applied the change")
	}
	t.Logf("both gateways applied the change %v after core published it", time.Since(start).Round(time.Millisecond))
	for _, g := range gateways {
		for range 10 {
			if v := version(g); v != "v2" {
				t.Fatalf("gateway %s after the change: %q", g, v)
			}
		}
	}
}

// TestGrayReleaseWithCore runs the gateway against a real core: rules
// written through core's configuration API (as the console does) reach
// the gateway through core's change feed, a rollback too, and core refuses
// invalid rules.
func TestGrayReleaseWithCore(t *testing.T) {
	const feedToken = "core-feed-token-for-the-gateway-test"
	core := coretest.Start(t, coretest.Options{Env: map[string]string{"PLUGBOARD_CORE_FEED_TOKEN": feedToken}})
	admin := coretest.Login(t, core.URL, "admin", coretest.AdminPassword)
	routing := core.URL + "/api/config/shop/" + registry.RoutingKey + "?scope=global"
	put := func(rules string, status int) {
		t.Helper()
		r := testenv.Do(t, "PUT", routing, map[string]any{"value": json.RawMessage(rules), "comment": "test"}, "Authorization", "Bearer "+admin)
		if r.Status != status {
			t.Fatalf("PUT %s: %d %s, want %d", rules, r.Status, r.Body, status)
		}
	}
	put(`{"weights":{"v1":100}}`, 201)
	s := startStack(t, "PLUGBOARD_CORE_URL", core.URL, corefeed.TokenEnv, feedToken)
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	s.registerVersion("shop", "v1", v1)
	s.registerVersion("shop", "v2", v2)
	served := func() string { return s.get("/api/shop/x").header.Get(registry.VersionHeader) }
	testenv.Eventually(t, 10*time.Second, func() bool { return served() == "v1" }, "the gateway never routed by core's rules")

	start := time.Now()
	put(`{"weights":{"v2":100}}`, 200)
	testenv.Eventually(t, 5*time.Second, func() bool { return served() == "v2" }, "the change never reached the gateway")
	t.Logf("the gateway applied core's change %v after core answered the PUT", time.Since(start).Round(time.Millisecond))

	if r := testenv.Do(t, "POST", core.URL+"/api/config/shop/"+registry.RoutingKey+"/rollback?scope=global",
		map[string]any{"version": 1}, "Authorization", "Bearer "+admin); r.Status != 200 {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return served() == "v1" }, "the rollback never reached the gateway")

	// The caller's identity (jwt_auth, after plugboard_route) decides: the
	// admin's tenant is the canary's; nobody else's is, whatever headers
	// they send (client X-Plugboard-* headers are dropped, and the gateway
	// reads the tenant only from jwt_auth).
	var me struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
	}
	testenv.Do(t, "GET", core.URL+"/api/auth/me", nil, "Authorization", "Bearer "+admin).Decode(t, &me)
	put(fmt.Sprintf(`{"weights":{"v1":100},"tenants":{"v2":[%q]}}`, me.Tenant.ID), 200)
	asAdmin := http.Header{"Authorization": {"Bearer " + admin}}
	testenv.Eventually(t, 5*time.Second, func() bool {
		return s.do("GET", "/api/shop/x", nil, asAdmin).header.Get(registry.VersionHeader) == "v2"
	}, "the canary tenant never reached v2")
	for range 10 {
		spoof := http.Header{"X-Plugboard-Tenant-Id": {me.Tenant.ID}, "X-Plugboard-Tenant": {me.Tenant.ID}}
		if v := s.do("GET", "/api/shop/x", nil, spoof).header.Get(registry.VersionHeader); v != "v1" {
			t.Fatalf("a client claiming the canary tenant in a header got %q", v)
		}
	}
	// Sticky by user: on a 50/50 split the admin always lands on one version.
	put(`{"weights":{"v1":50,"v2":50}}`, 200)
	testenv.Eventually(t, 5*time.Second, func() bool { return served() != "" && rulesVersionApplied(s, "v1", "v2") }, "the split never applied")
	first := s.do("GET", "/api/shop/x", nil, asAdmin).header.Get(registry.VersionHeader)
	for range 20 {
		if v := s.do("GET", "/api/shop/x", nil, asAdmin).header.Get(registry.VersionHeader); v != first {
			t.Fatalf("one user on %s, then %s", first, v)
		}
	}
	put(`{"weights":{"v1":100}}`, 200)
	testenv.Eventually(t, 5*time.Second, func() bool {
		return s.do("GET", "/api/shop/x", nil, asAdmin).header.Get(registry.VersionHeader) == "v1"
	}, "back to v1")

	put(`{"weights":{"v1":-5}}`, 422) // refused by core: the gateway keeps the rules it has
	put(`{"wieghts":{"v2":100}}`, 422)
	for range 5 {
		if v := served(); v != "v1" {
			t.Fatalf("after refused writes: %q", v)
		}
	}
}

// rulesVersionApplied reports whether anonymous requests (drawn at random)
// reach both versions, as a 50/50 split makes them.
func rulesVersionApplied(s *stack, a, b string) bool {
	seen := map[string]bool{}
	for range 40 {
		seen[s.get("/api/shop/x").header.Get(registry.VersionHeader)] = true
	}
	return seen[a] && seen[b]
}
