package traffic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/golang-jwt/jwt/v5"

	_ "github.com/plugboard/plugboard/caddymodules"
	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/caddymodules/traffic"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/registrytest"
)

// childEnv makes the test binary a second gateway (see TestMain): Caddy is
// process-global, so two gateways need two processes.
const childEnv = "PLUGBOARD_TRAFFIC_TEST_GATEWAY"

func TestMain(m *testing.M) {
	if gatewaytest.ServeChildIfAsked(childEnv, "../../Caddyfile") {
		return
	}
	os.Exit(m.Run())
}

// adapt adapts a Caddyfile, sending every log to discard.
func adapt(path string) ([]byte, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": path})
	if err != nil {
		return nil, fmt.Errorf("adapt %s: %w", path, err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, err
	}
	cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{"writer": map[string]any{"output": "discard"}}}}
	return json.Marshal(cfg)
}

// A caller of the fake core: its roles and tenant.
type caller struct {
	roles  []string
	tenant string
}

// stack is a registry, a fake core, a plugin backend and the gateway on the
// shipped Caddyfile.
type stack struct {
	t       *testing.T
	gateway string
	core    *httptest.Server
	meCalls atomic.Int64
	mu      sync.Mutex
	tokens  map[string]caller // bearer token or API key → who (under mu)
	key     *auth.Key
	env     map[string]string
}

const (
	regToken = "traffic-test-registry-token"
	apiKeyT2 = "pb_test_key_tenant_admin_t2"
)

// startStack runs everything with the gateway's traffic figures in Redis
// at redisURL under prefix ("" for none).
func startStack(t *testing.T, redisURL, prefix string) *stack {
	t.Helper()
	key, err := auth.GenerateKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, key: key, tokens: map[string]caller{apiKeyT2: {[]string{"tenant_admin"}, "t2"}}}
	s.core = httptest.NewServer(http.HandlerFunc(s.serveCore))
	t.Cleanup(s.core.Close)

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			http.Error(w, "boom", http.StatusInternalServerError)
		case strings.HasSuffix(r.URL.Path, "/nope"):
			http.NotFound(w, r)
		default:
			io.WriteString(w, "ok")
		}
	}))
	t.Cleanup(backend.Close)
	r := registrytest.Start(t, registrytest.Options{Token: regToken})
	regURL, reg := r.URL, r.Client
	host, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	for _, name := range []string{"orders", "catalog"} {
		if _, err := reg.Register(context.Background(), &registry.Instance{
			Name: name, Host: host, Port: port, BasePath: "/v1",
			Endpoints: []registry.Endpoint{{Path: "/items/{id}", Method: "GET"}},
		}); err != nil {
			t.Fatalf("register %s: %+v", name, err)
		}
	}
	// shop has two versions, each its own backend; core's routing rules
	// (serveCore) send it to v1 unless a request pins v2.
	for _, v := range []string{"v1", "v2"} {
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, v) }))
		t.Cleanup(b.Close)
		h, p, _ := net.SplitHostPort(b.Listener.Addr().String())
		pn, _ := strconv.Atoi(p)
		if _, err := reg.Register(context.Background(), &registry.Instance{Name: "shop", Version: v, Host: h, Port: pn, BasePath: "/"}); err != nil {
			t.Fatalf("register shop %s: %+v", v, err)
		}
	}
	// The route /api/gateway/* is the gateway's: no plugin may take the name.
	if _, err := reg.Register(context.Background(), &registry.Instance{Name: "gateway", Host: host, Port: port}); err == nil {
		t.Fatal("the registry let a plugin register as gateway")
	}

	s.gateway = "http://" + testenv.FreeAddr(t)
	s.env = map[string]string{
		"PLUGBOARD_GATEWAY_SITE":           s.gateway,
		"PLUGBOARD_GATEWAY_ADMIN":          "off",
		"PLUGBOARD_GATEWAY_ACCESS_LOG":     "discard",
		"PLUGBOARD_REGISTRY_URL":           regURL,
		"PLUGBOARD_REGISTRY_TOKEN":         regToken,
		"PLUGBOARD_CORE_URL":               s.core.URL,
		"PLUGBOARD_WEB_ROOT":               "../../web/placeholder",
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": "traffic-test-signing-secret-0123456789",
		"PLUGBOARD_REDIS_URL":              redisURL,
		"PLUGBOARD_REDIS_PREFIX":           prefix,
		"PLUGBOARD_DATA_DIR":               t.TempDir(),
		"XDG_DATA_HOME":                    t.TempDir(),
		"XDG_CONFIG_HOME":                  t.TempDir(),
	}
	for k, v := range s.env {
		t.Setenv(k, v)
	}
	cfg, err := adapt("../../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })
	s.waitRoutable(s.gateway)
	return s
}

// token signs an access token and tells the fake core who it is.
func (s *stack) token(tenant string, roles ...string) string {
	s.t.Helper()
	tok, _, err := auth.Issuer{Issuer: "plugboard", Audience: "plugboard"}.Sign(s.key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "u-" + tenant + strings.Join(roles, "-")}, TenantID: tenant, Roles: roles,
	}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.tokens[tok] = caller{roles, tenant}
	s.mu.Unlock()
	return tok
}

// serveCore is the part of core the gateway asks: its keys, /verify for
// jwt_auth, /me for the traffic API and the routing rules.
func (s *stack) serveCore(w http.ResponseWriter, r *http.Request) {
	_, cred := credential.Parse(r.Header)
	s.mu.Lock()
	who, known := s.tokens[cred]
	s.mu.Unlock()
	switch r.URL.Path {
	case "/api/auth/jwks.json":
		json.NewEncoder(w).Encode(auth.JWKS{Keys: []auth.JWK{s.key.JWK()}})
	case "/api/auth/verify":
		if !known {
			http.Error(w, `{"status":401}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"tenant_id": who.tenant, "roles": who.roles, "enabled_services": []string{"orders", "catalog", "shop"}})
	case corefeed.ConfigPath: // the routing rules dynamic_upstreams loads
		json.NewEncoder(w).Encode([]map[string]any{{"scope": "global", "service": "shop", "key": registry.RoutingKey, "version": 1,
			"value": map[string]any{"weights": map[string]int{"v1": 1}}}})
	case "/api/auth/me":
		s.meCalls.Add(1)
		if !known {
			http.Error(w, `{"status":401}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"user": map[string]any{"id": "u1", "tenant_id": who.tenant}, "tenant": map[string]any{"id": who.tenant}, "roles": who.roles,
		})
	default:
		http.NotFound(w, r)
	}
}

func (s *stack) waitRoutable(gateway string) {
	s.t.Helper()
	tok := s.token("t0", "user")
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", gateway+"/api/catalog/items/warm", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the gateway %s never routed catalog", gateway)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *stack) do(gateway, method, path string, header http.Header) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, gateway+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// send sends n requests to path with token (none if "") and checks the status.
func (s *stack) send(gateway string, n int, path, token string, want int) {
	s.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	for range n {
		if st, body := s.do(gateway, "GET", path, h); st != want {
			s.t.Fatalf("GET %s: %d %s, want %d", path, st, body, want)
		}
	}
}

// report reads the traffic API with header and checks it answered 200.
func (s *stack) report(gateway, query string, header http.Header) traffic.Report {
	s.t.Helper()
	st, body := s.do(gateway, "GET", "/api/gateway/traffic"+query, header)
	if st != 200 {
		s.t.Fatalf("traffic%s: %d %s", query, st, body)
	}
	var rep traffic.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		s.t.Fatal(err)
	}
	return rep
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// byService returns requests, 4xx, 5xx per service (without the warm-up
// requests' service, users, unless asked).
func byService(rep traffic.Report) map[string][3]uint64 {
	out := map[string][3]uint64{}
	for _, s := range rep.Services {
		out[s.Service] = [3]uint64{s.Requests, s.Errors4xx, s.Errors5xx}
	}
	return out
}

func TestGateway(t *testing.T) {
	s := startStack(t, "", "")
	userT1 := s.token("t1", "user")
	adminT1 := s.token("t1", "tenant_admin")
	adminT2 := s.token("t2", "tenant_admin")
	super := s.token("t0", "super_admin")

	s.send(s.gateway, 5, "/api/orders/items/1", userT1, 200)
	s.send(s.gateway, 2, "/api/orders/items/fail", userT1, 500)
	s.send(s.gateway, 1, "/api/orders/items/nope", adminT1, 404)
	s.send(s.gateway, 3, "/api/catalog/items/2", userT1, 200)
	s.send(s.gateway, 4, "/api/orders/items/3", adminT2, 200)
	s.send(s.gateway, 1, "/api/orders/items/4", "", 401) // refused by jwt_auth: counted, under no tenant
	s.send(s.gateway, 2, "/api/unknown/items/4", userT1, 404)
	s.send(s.gateway, 2, "/api/auth/me", userT1, 200) // core's API: not a plugin, not counted

	t.Run("SuperAdminSeesEveryTenant", func(t *testing.T) {
		rep := s.report(s.gateway, "", bearer(super))
		got := byService(rep)
		// catalog: 3 plus the warm-up request(s) of tenant t0.
		if got["orders"] != [3]uint64{13, 2, 2} || got["catalog"][0] < 4 || len(got) != 2 || rep.Services[0].Service != "orders" {
			t.Fatalf("services %v", got)
		}
		if rep.Scope != "local" || rep.StepSeconds != 60 || rep.Totals.Requests != 13+got["catalog"][0] ||
			rep.Totals.P50 <= 0 || rep.Totals.P99 < rep.Totals.P50 || rep.Totals.RPS <= 0 {
			t.Fatalf("report %+v", rep)
		}
		o := rep.Services[0]
		var inSeries uint64
		for _, p := range o.Series {
			inSeries += p.Requests
		}
		if len(o.Series) != 60 || inSeries != o.Requests || o.ErrorRate != round4(4.0/13) {
			t.Fatalf("orders %+v, %d requests in the series", o.Figures, inSeries)
		}
		from, err1 := time.Parse(time.RFC3339, rep.From)
		to, err2 := time.Parse(time.RFC3339, rep.To)
		if err1 != nil || err2 != nil || to.Sub(from) < 59*time.Minute || to.Sub(from) > time.Hour {
			t.Fatalf("from %s to %s", rep.From, rep.To)
		}
	})
	t.Run("TenantAdminSeesOwnTenant", func(t *testing.T) {
		if got := byService(s.report(s.gateway, "", bearer(adminT1))); fmt.Sprint(got) != fmt.Sprint(map[string][3]uint64{"orders": {8, 1, 2}, "catalog": {3, 0, 0}}) {
			t.Fatalf("t1 sees %v", got)
		}
		// An API key of t2's tenant_admin, in X-API-Key.
		if got := byService(s.report(s.gateway, "", http.Header{"X-Api-Key": {apiKeyT2}})); fmt.Sprint(got) != fmt.Sprint(map[string][3]uint64{"orders": {4, 0, 0}}) {
			t.Fatalf("t2 sees %v", got)
		}
	})
	t.Run("ServiceAndWindow", func(t *testing.T) {
		rep := s.report(s.gateway, "?service=catalog&window=15m", bearer(super))
		if len(rep.Services) != 1 || rep.Services[0].Service != "catalog" || len(rep.Services[0].Series) != 15 || rep.Totals.Requests != rep.Services[0].Requests {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("AuthCache", func(t *testing.T) {
		before := s.meCalls.Load()
		for range 3 {
			s.report(s.gateway, "", bearer(super))
		}
		if n := s.meCalls.Load() - before; n != 0 {
			t.Fatalf("core asked %d times for a cached credential", n)
		}
	})
	t.Run("ByVersion", func(t *testing.T) {
		// Two versions' requests are counted apart: 3 routed to v1 by the
		// rules' weights, 5 pinned to v2 with the pin header (and 2 below).
		pin := bearer(userT1)
		pin.Set(registry.DefaultVersionHeader, "v2")
		for range 5 {
			if st, body := s.do(s.gateway, "GET", "/api/shop/x", pin); st != 200 || string(body) != "v2" {
				t.Fatalf("pinned to v2: %d %s", st, body)
			}
		}
		s.send(s.gateway, 3, "/api/shop/x", userT1, 200)
		// The attack: a client pins versions that do not exist, to make the
		// gateway keep a series for each. They are counted under the
		// version that served (v1), never under what the client sent.
		for _, bogus := range []string{"bogus-1", "bogus-2"} {
			h := bearer(userT1)
			h.Set(registry.DefaultVersionHeader, bogus)
			if st, body := s.do(s.gateway, "GET", "/api/shop/x", h); st != 200 || string(body) != "v1" {
				t.Fatalf("pinned to %s: %d %s", bogus, st, body)
			}
		}
		rep := s.report(s.gateway, "?service=shop&window=15m&by=version", bearer(adminT1))
		if len(rep.Services) != 1 || rep.Services[0].Requests != 10 {
			t.Fatalf("report %+v", rep)
		}
		got := map[string][2]float64{}
		for _, v := range rep.Services[0].Versions {
			got[v.Version] = [2]float64{float64(v.Requests), v.Share}
		}
		if fmt.Sprint(got) != fmt.Sprint(map[string][2]float64{"v1": {5, 0.5}, "v2": {5, 0.5}}) {
			t.Fatalf("versions %v", got)
		}
		// Without by=version the report keeps its shape: no versions.
		if plain := s.report(s.gateway, "?service=shop", bearer(super)); len(plain.Services) != 1 || plain.Services[0].Versions != nil {
			t.Fatalf("report without by %+v", plain)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			method string
			path   string
			header http.Header
			status int
			typ    string
		}{
			{"NoCredential", "GET", "/api/gateway/traffic", nil, 401, "/problems/unauthorized"},
			{"UnknownToken", "GET", "/api/gateway/traffic", bearer("nope"), 401, "/problems/unauthorized"},
			{"PlainUser", "GET", "/api/gateway/traffic", bearer(userT1), 403, "/problems/forbidden"},
			{"TwoCredentials", "GET", "/api/gateway/traffic", http.Header{"Authorization": {"Bearer " + super}, "X-Api-Key": {apiKeyT2}}, 401, "/problems/unauthorized"},
			{"WindowTooLong", "GET", "/api/gateway/traffic?window=2h", bearer(super), 422, "/problems/invalid"},
			{"WindowNotADuration", "GET", "/api/gateway/traffic?window=soon", bearer(super), 422, "/problems/invalid"},
			{"ByTenant", "GET", "/api/gateway/traffic?by=tenant", bearer(super), 422, "/problems/invalid"},
			{"OtherPath", "GET", "/api/gateway/other", bearer(super), 404, "/problems/not_found"},
			{"Post", "POST", "/api/gateway/traffic", bearer(super), 405, "/problems/method_not_allowed"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, s.gateway+tc.path, nil)
				for k, v := range tc.header {
					req.Header[k] = v
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				p := testenv.Read(t, resp).Problem(t)
				if resp.StatusCode != tc.status || p.Type != tc.typ {
					t.Fatalf("%d %+v, want %d %s", resp.StatusCode, p, tc.status, tc.typ)
				}
				if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			})
		}
	})
	t.Run("CoreDownIs503", func(t *testing.T) {
		fresh := s.token("t0", "super_admin")
		s.core.Close()
		req, _ := http.NewRequest("GET", s.gateway+"/api/gateway/traffic", nil)
		req.Header.Set("Authorization", "Bearer "+fresh)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if p := testenv.Read(t, resp).Problem(t); resp.StatusCode != 503 || p.Type != "/problems/unavailable" {
			t.Fatalf("%d %+v", resp.StatusCode, p)
		}
	})
}

func round4(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 4, 64), 64)
	return f
}

// TestTwoGatewaysShareRedis runs a second gateway process on the same Redis
// and prefix: the API of either reports both gateways' requests.
func TestTwoGatewaysShareRedis(t *testing.T) {
	redisURL, prefix := testenv.RedisURL(t)
	s := startStack(t, redisURL, prefix)
	second := "http://" + testenv.FreeAddr(t)
	gatewaytest.StartChild(t, childEnv, second)
	s.waitRoutable(second)

	user := s.token("t1", "user")
	super := s.token("t0", "super_admin")
	admin := s.token("t1", "tenant_admin")
	s.send(s.gateway, 3, "/api/orders/items/1", user, 200)
	s.send(second, 2, "/api/orders/items/1", user, 200)
	s.send(second, 1, "/api/orders/items/fail", user, 500)

	for _, gw := range []string{s.gateway, second} {
		var got map[string][3]uint64
		var rep traffic.Report
		deadline := time.Now().Add(10 * time.Second) // the other gateway flushes every 2 s
		for {
			rep = s.report(gw, "?service=orders", bearer(super))
			if got = byService(rep); got["orders"] == [3]uint64{6, 0, 1} {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway %s reports %v (scope %s), want orders 6 requests, one 5xx", gw, got, rep.Scope)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if rep.Scope != "cluster" {
			t.Fatalf("scope %q", rep.Scope)
		}
		if got := byService(s.report(gw, "?service=orders", bearer(admin))); got["orders"] != [3]uint64{6, 0, 1} {
			t.Fatalf("t1's admin on %s sees %v", gw, got)
		}
	}
}

// TestRedisDown: with Redis unreachable the API answers with this
// gateway's figures, scope local, never an error.
func TestRedisDown(t *testing.T) {
	s := startStack(t, "redis://127.0.0.1:1/0", "test:down:")
	user := s.token("t1", "user")
	s.send(s.gateway, 2, "/api/orders/items/1", user, 200)
	rep := s.report(s.gateway, "?service=orders", bearer(s.token("t0", "super_admin")))
	if rep.Scope != "local" || byService(rep)["orders"] != [3]uint64{2, 0, 0} {
		t.Fatalf("report %+v", rep)
	}
}
