package ratelimit_test

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

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	_ "github.com/plugboard/plugboard/caddymodules"
	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/registrytest"
)

// childEnv makes the test binary a second gateway (see TestMain): Caddy is
// process-global, so two gateways need two processes.
const childEnv = "PLUGBOARD_RATELIMIT_TEST_GATEWAY"

func TestMain(m *testing.M) {
	if gatewaytest.ServeChildIfAsked(childEnv, "../../Caddyfile") {
		return
	}
	os.Exit(m.Run())
}

// who is a caller of the fake core.
type who struct {
	user, tenant string
	tenantQuota  *registry.RateLimit
	keyQuota     *registry.RateLimit
}

// stack is a registry, a fake core, a plugin backend and the gateway on
// the shipped Caddyfile (and, with second, another gateway process).
type stack struct {
	t        *testing.T
	gateways []string
	key      *auth.Key
	mu       sync.Mutex
	creds    map[string]who // bearer token or API key → who (under mu)
}

const regToken = "ratelimit-test-registry-token"

func rl(s string) *registry.RateLimit {
	var l registry.RateLimit
	if err := json.Unmarshal([]byte(s), &l); err != nil || len(l.Problems()) > 0 {
		panic(s)
	}
	return &l
}

// startStack runs everything with the rate-limit counts in Redis at
// redisURL under prefix ("" for none), and a second gateway when asked.
func startStack(t *testing.T, redisURL, prefix string, second bool) *stack {
	t.Helper()
	key, err := auth.GenerateKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, key: key, creds: map[string]who{}}
	core := httptest.NewServer(http.HandlerFunc(s.serveCore))
	t.Cleanup(core.Close)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(backend.Close)

	r := registrytest.Start(t, registrytest.Options{Token: regToken})
	host, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if _, err := r.Client.Register(context.Background(), &registry.Instance{
		Name: "orders", Host: host, Port: port, BasePath: "/v1",
		Endpoints: []registry.Endpoint{
			{Path: "/items/{id}", Method: "GET", RateLimit: rl(`{"requests":5,"per":"1m"}`)},
			{Path: "/team/{id}", Method: "GET", RateLimit: rl(`{"requests":4,"per":"1m","key":"tenant"}`)},
			{Path: "/open/{id}", Method: "GET", IsPublic: true, RateLimit: rl(`{"requests":3,"per":"1m","key":"client_ip"}`)},
			{Path: "/open-team/{id}", Method: "GET", IsPublic: true, RateLimit: rl(`{"requests":3,"per":"1m","key":"tenant"}`)},
			{Path: "/shared/{id}", Method: "GET", RateLimit: rl(`{"requests":100,"per":"1s","burst":10,"key":"service"}`)},
			{Path: "/once/{id}", Method: "GET", RateLimit: rl(`{"requests":10,"per":"1m","key":"service"}`)},
			{Path: "/probe/{id}", Method: "GET", RateLimit: rl(`{"requests":1000000,"per":"1s","key":"service"}`)},
			{Path: "/free/{id}", Method: "GET"},
		},
	}); err != nil {
		t.Fatalf("register: %+v", err)
	}

	env := map[string]string{
		"PLUGBOARD_GATEWAY_ADMIN":          "off",
		"PLUGBOARD_GATEWAY_ACCESS_LOG":     "discard",
		"PLUGBOARD_REGISTRY_URL":           r.URL,
		"PLUGBOARD_REGISTRY_TOKEN":         regToken,
		"PLUGBOARD_CORE_URL":               core.URL,
		"PLUGBOARD_WEB_ROOT":               "../../web/placeholder",
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": "ratelimit-test-signing-secret-0123456789",
		"PLUGBOARD_REDIS_URL":              redisURL,
		"PLUGBOARD_REDIS_PREFIX":           prefix,
		"PLUGBOARD_GATEWAY_RATE_LIMIT":     "1000000",
		"PLUGBOARD_DATA_DIR":               t.TempDir(),
		"XDG_DATA_HOME":                    t.TempDir(),
		"XDG_CONFIG_HOME":                  t.TempDir(),
	}
	first := "http://" + testenv.FreeAddr(t)
	env["PLUGBOARD_GATEWAY_SITE"] = first
	for k, v := range env {
		t.Setenv(k, v)
	}
	gatewaytest.LoadCaddyfile(t, "../../Caddyfile", nil)
	s.gateways = []string{first}
	if second {
		site := "http://" + testenv.FreeAddr(t)
		gatewaytest.StartChild(t, childEnv, site)
		s.gateways = append(s.gateways, site)
	}
	for _, gw := range s.gateways {
		s.waitRoutable(gw)
	}
	return s
}

// token signs an access token for user of tenant and tells the fake core.
func (s *stack) token(user, tenant string) string {
	s.t.Helper()
	tok, _, err := auth.Issuer{Issuer: "plugboard", Audience: "plugboard"}.Sign(s.key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user}, TenantID: tenant, Roles: []string{"user"},
	}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.creds[tok] = who{user: user, tenant: tenant}
	s.mu.Unlock()
	return tok
}

// apiKey makes an API key of user in tenant, with core's quotas.
func (s *stack) apiKey(w who) string {
	s.t.Helper()
	k, _, _, err := auth.NewAPIKey()
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.creds[k] = w
	s.mu.Unlock()
	return k
}

// serveCore is the part of core jwt_auth asks: its keys and /verify,
// whose answer carries the tenant's and the key's quotas.
func (s *stack) serveCore(w http.ResponseWriter, r *http.Request) {
	_, cred := credential.Parse(r.Header)
	s.mu.Lock()
	c, known := s.creds[cred]
	s.mu.Unlock()
	switch r.URL.Path {
	case "/api/auth/jwks.json":
		json.NewEncoder(w).Encode(auth.JWKS{Keys: []auth.JWK{s.key.JWK()}})
	case "/api/auth/verify":
		if !known {
			http.Error(w, `{"status":401}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"user_id": c.user, "tenant_id": c.tenant, "roles": []string{"user"}, "scopes": []string{"services:call"},
			"enabled_services": []string{"orders"}, "tenant_rate_limit": c.tenantQuota, "api_key_rate_limit": c.keyQuota,
		})
	default:
		http.NotFound(w, r)
	}
}

func (s *stack) waitRoutable(gateway string) {
	s.t.Helper()
	tok := s.token("warm", "t0")
	testenv.Eventually(s.t, 10*time.Second, func() bool {
		st, _, _ := s.get(gateway, "/api/orders/free/warm", bearer(tok))
		return st == 200
	}, "the gateway %s never routed orders", gateway)
}

// get sends GET path to gateway with header and returns the status, the
// headers and the body.
func (s *stack) get(gateway, path string, header http.Header) (int, http.Header, []byte) {
	req, _ := http.NewRequest("GET", gateway+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// admitN sends n requests and returns how many were admitted (200), failing
// on anything but 200 and 429; it checks the headers of both.
func (s *stack) admitN(gateway, path string, header http.Header, n int) int {
	s.t.Helper()
	ok := 0
	for range n {
		st, h, body := s.get(gateway, path, header)
		switch st {
		case 200:
			ok++
			if h.Get("RateLimit-Policy") == "" || h.Get("RateLimit") == "" {
				s.t.Fatalf("GET %s: 200 without RateLimit headers: %v", path, h)
			}
		case 429:
			checkRefusal(s.t, path, h, body)
		default:
			s.t.Fatalf("GET %s: %d %s", path, st, body)
		}
	}
	return ok
}

// checkRefusal checks a 429: problem+json of type rate_limited, with
// Retry-After and the RateLimit headers.
func checkRefusal(t *testing.T, path string, h http.Header, body []byte) {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Type != "/problems/rate_limited" || p.Status != 429 || !strings.Contains(p.Detail, "Rate limit exceeded") {
		t.Fatalf("GET %s: 429 %v %s", path, h, body)
	}
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("GET %s: Retry-After %q", path, h.Get("Retry-After"))
	}
	if !strings.Contains(h.Get("RateLimit"), ";r=0;") || h.Get("RateLimit-Policy") == "" {
		t.Fatalf("GET %s: RateLimit %q, RateLimit-Policy %q", path, h.Get("RateLimit"), h.Get("RateLimit-Policy"))
	}
}

// TestLimitsRefuse: the endpoint's limit (per user), a tenant-keyed
// endpoint limit, core's tenant quota and core's API-key quota each
// refuse with 429 and the headers, each counting in its own bucket.
func TestLimitsRefuse(t *testing.T) {
	s := startStack(t, "", "", false)
	gw := s.gateways[0]

	alice, bob := s.token("alice", "t1"), s.token("bob", "t1")
	if got := s.admitN(gw, "/api/orders/items/1", bearer(alice), 7); got != 5 {
		t.Fatalf("alice: %d of 7 admitted under 5/min per user", got)
	}
	_, h, _ := s.get(gw, "/api/orders/items/1", bearer(bob))
	if h.Get("RateLimit-Policy") != `"endpoint";q=5;w=60, "service";q=1000000;w=1` || !strings.HasPrefix(h.Get("RateLimit"), `"endpoint";r=4;t=`) {
		t.Fatalf("bob's first answer: RateLimit-Policy %q, RateLimit %q", h.Get("RateLimit-Policy"), h.Get("RateLimit"))
	}

	// key tenant: alice and bob (t1) share 4; carol (t2) has her own, and
	// a t2 caller naming t1 in headers still counts in t2.
	carol := s.token("carol", "t2")
	if got := s.admitN(gw, "/api/orders/team/1", bearer(alice), 2) + s.admitN(gw, "/api/orders/team/1", bearer(bob), 4); got != 4 {
		t.Fatalf("tenant t1: %d of 6 admitted under 4/min per tenant", got)
	}
	spoof := bearer(carol)
	spoof.Set("X-Plugboard-Tenant-Id", "t1")
	spoof.Set("X-Tenant-Id", "t1")
	if got := s.admitN(gw, "/api/orders/team/1", spoof, 5); got != 4 {
		t.Fatalf("tenant t2 (naming t1 in headers): %d of 5 admitted, want its own 4", got)
	}

	// core's tenant quota for a token's caller (verified offline; the
	// quota comes with the tenant's services).
	frank := s.token("frank", "t5")
	s.mu.Lock()
	w := s.creds[frank]
	w.tenantQuota = rl(`{"requests":2,"per":"1m"}`)
	s.creds[frank] = w
	s.mu.Unlock()
	if got := s.admitN(gw, "/api/orders/free/1", bearer(frank), 4); got != 2 {
		t.Fatalf("token of a tenant with a quota of 2: %d admitted", got)
	}

	// core's quotas, from its verify answer.
	tq := s.apiKey(who{user: "dave", tenant: "t3", tenantQuota: rl(`{"requests":3,"per":"1m"}`)})
	kq := s.apiKey(who{user: "erin", tenant: "t4", keyQuota: rl(`{"requests":2,"per":"1m"}`)})
	kq2 := s.apiKey(who{user: "erin", tenant: "t4", keyQuota: rl(`{"requests":2,"per":"1m"}`)})
	for _, tc := range []struct {
		key    string
		want   int
		policy string
	}{{tq, 3, `"tenant";q=3;w=60`}, {kq, 2, `"api_key";q=2;w=60`}, {kq2, 2, `"api_key";q=2;w=60`}} {
		h := http.Header{"X-Api-Key": {tc.key}}
		if got := s.admitN(gw, "/api/orders/free/1", h, tc.want+2); got != tc.want {
			t.Fatalf("quota %s: %d admitted, want %d", tc.policy, got, tc.want)
		}
		st, h2, _ := s.get(gw, "/api/orders/free/1", h)
		if st != 429 || !strings.Contains(h2.Get("RateLimit-Policy"), tc.policy) {
			t.Fatalf("quota %s: %d, RateLimit-Policy %q", tc.policy, st, h2.Get("RateLimit-Policy"))
		}
	}
}

// TestSpoofedForwardedFor performs the attack: a client varies
// X-Forwarded-For (and tenant headers) on a public endpoint limited by
// client address or tenant; it must stay in its own address's bucket.
func TestSpoofedForwardedFor(t *testing.T) {
	s := startStack(t, "", "", false)
	gw := s.gateways[0]
	for _, path := range []string{"/api/orders/open/1", "/api/orders/open-team/1"} {
		ok := 0
		for i := range 6 {
			h := http.Header{
				"X-Forwarded-For":       {fmt.Sprintf("203.0.113.%d", i)},
				"X-Real-Ip":             {fmt.Sprintf("198.51.100.%d", i)},
				"X-Plugboard-Tenant-Id": {fmt.Sprintf("t%d", i)},
			}
			ok += s.admitN(gw, path, h, 1)
		}
		if ok != 3 {
			t.Fatalf("%s: %d of 6 admitted with spoofed client headers, want 3 (one bucket)", path, ok)
		}
	}
}

// TestTwoGatewaysOneLimit: two gateways on one Redis enforce 100/s (burst
// 10) as one limit, traffic split across both; then Redis goes down
// (requests flow under each gateway's own limit, no 5xx) and comes back
// (the cluster limit returns).
func TestTwoGatewaysOneLimit(t *testing.T) {
	redisURL, prefix := testenv.RedisURL(t)
	opts, _ := redis.ParseURL(redisURL)
	fp := testenv.NewFaultProxy(t, opts.Addr)
	viaProxy := strings.Replace(redisURL, opts.Addr, fp.Addr(), 1)
	s := startStack(t, viaProxy, prefix, true)
	tok := s.token("load", "t1")

	// Saturate /shared (100/s, burst 10, one bucket for all) from both
	// gateways for 3 s. GCRA admits burst + rate × elapsed.
	const period, perPeriod, burst = time.Second, 100, 10
	var admitted, refused, other atomic.Int64
	start := time.Now()
	hammer(s, 3*time.Second, "/api/orders/shared/", bearer(tok), &admitted, &refused, &other)
	elapsed := time.Since(start)
	want := float64(burst) + perPeriod*elapsed.Seconds()/period.Seconds()
	got := float64(admitted.Load())
	t.Logf("cluster: %d admitted, %d refused in %s; want %.0f ± 5%%", admitted.Load(), refused.Load(), elapsed, want)
	if other.Load() != 0 || refused.Load() == 0 || got < want*0.95 || got > want*1.05 {
		t.Fatalf("cluster: %v admitted (other statuses %d, refused %d), want %.0f ± 5%%", got, other.Load(), refused.Load(), want)
	}

	// Redis down: every request still answers 200 or 429, each gateway
	// admitting under its own count (up to twice the limit for two).
	fp.Down()
	admitted.Store(0)
	refused.Store(0)
	start = time.Now()
	hammer(s, 2*time.Second, "/api/orders/shared/", bearer(tok), &admitted, &refused, &other)
	elapsed = time.Since(start)
	maxLocal := 2 * (float64(burst) + perPeriod*elapsed.Seconds())
	t.Logf("Redis down: %d admitted, %d refused in %s (at most %.0f)", admitted.Load(), refused.Load(), elapsed, maxLocal)
	if other.Load() != 0 || refused.Load() == 0 || float64(admitted.Load()) > maxLocal*1.05 || admitted.Load() < perPeriod {
		t.Fatalf("Redis down: %d admitted, %d refused, %d other", admitted.Load(), refused.Load(), other.Load())
	}

	// Redis back: each gateway asks it again within a second (retry).
	fp.Up()
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	probeKey := prefix + "rl:e|orders|GET /probe/{id}|all"
	for _, gw := range s.gateways {
		testenv.Eventually(t, 10*time.Second, func() bool {
			before, _ := rdb.Get(context.Background(), probeKey).Result()
			if st, _, _ := s.get(gw, "/api/orders/probe/1", bearer(tok)); st != 200 {
				return false
			}
			after, _ := rdb.Get(context.Background(), probeKey).Result()
			return after != before
		}, "gateway %s never counted in Redis again", gw)
	}
	// One limit again: 10 per minute for everyone, alternating gateways.
	ok := 0
	for i := range 16 {
		ok += s.admitN(s.gateways[i%2], "/api/orders/once/1", bearer(tok), 1)
	}
	if ok != 10 {
		t.Fatalf("after Redis came back: %d of 16 admitted across two gateways, want 10", ok)
	}
}

// hammer sends requests to path from 4 clients per gateway for d.
func hammer(s *stack, d time.Duration, path string, h http.Header, admitted, refused, other *atomic.Int64) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, gw := range s.gateways {
		for c := range 4 {
			wg.Go(func() {
				for i := 0; time.Now().Before(deadline); i++ {
					st, _, body := s.get(gw, path+strconv.Itoa(c*100000+i), h)
					switch st {
					case 200:
						admitted.Add(1)
					case 429:
						refused.Add(1)
					default:
						if other.Add(1) == 1 {
							s.t.Logf("GET %s on %s: %d %s", path, gw, st, body)
						}
					}
				}
			})
		}
	}
	wg.Wait()
}
