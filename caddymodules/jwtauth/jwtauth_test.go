package jwtauth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/coreclient"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
)

const testSecret = "test-signing-secret-0123456789abcdef"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock() *clock                   { c := new(clock); c.ns.Store(t0.UnixNano()); return c }
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeCore serves the JWKS and /api/auth/verify like core does.
type fakeCore struct {
	*httptest.Server
	mu       sync.Mutex
	jwks     auth.JWKS
	apiKeys  map[string]coreclient.Answer // key → answer; absent: 401
	tenants  map[string][]string          // tenant → enabled services
	status   int                          // when non-zero, every answer has this status
	jwksHits atomic.Int64
	keyHits  atomic.Int64
	tokHits  atomic.Int64
	delay    time.Duration
	feed     fakeFeed
}

// fakeFeed serves core's change feed (internal/corefeed) from events
// published by the test.
type fakeFeed struct {
	mu      sync.Mutex
	events  []corefeed.Event // revision i+1 at index i
	changed chan struct{}    // closed and replaced at each publish
	cut     chan struct{}    // closed and replaced to end every stream
	down    bool             // refuse connections
	reset   bool             // the next connection gets a reset whatever it resumes from
	conns   atomic.Int64
}

// publish appends e (its revision assigned) and wakes the streams.
func (c *fakeCore) publish(e corefeed.Event) int64 {
	f := &c.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	e.Revision = int64(len(f.events) + 1)
	f.events = append(f.events, e)
	close(f.changed)
	f.changed = make(chan struct{})
	return e.Revision
}

// setFeed takes the feed down (ending every stream) or up; with reset,
// the next connection starts with a reset.
func (c *fakeCore) setFeed(up, reset bool) {
	f := &c.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.reset = !up, reset
	close(f.cut)
	f.cut = make(chan struct{})
}

func (c *fakeCore) serveFeed(w http.ResponseWriter, r *http.Request) {
	f := &c.feed
	f.mu.Lock()
	down, cut := f.down, f.cut
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if f.reset || after <= 0 || after > int64(len(f.events)) {
		f.reset = false
		after = -1
	}
	f.mu.Unlock()
	if down {
		http.Error(w, "feed down", http.StatusServiceUnavailable)
		return
	}
	f.conns.Add(1)
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	write := func(event, id string, v any) {
		b, _ := json.Marshal(v)
		if id != "" {
			fmt.Fprintf(w, "id: %s\n", id)
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		fl.Flush()
	}
	if after < 0 { // as core: the kept events (all of them) continue from 0
		write(corefeed.FrameReset, "", corefeed.Position{Revision: 0})
		after = 0
	}
	tick := time.NewTicker(corefeed.HeartbeatEvery)
	defer tick.Stop()
	for {
		f.mu.Lock()
		pending := append([]corefeed.Event(nil), f.events[after:]...)
		changed, latest := f.changed, int64(len(f.events))
		f.mu.Unlock()
		for _, e := range pending {
			write(corefeed.FrameChange, strconv.FormatInt(e.Revision, 10), e)
		}
		after = latest
		select {
		case <-r.Context().Done():
			return
		case <-cut:
			return
		case <-changed:
		case <-tick.C:
			write(corefeed.FrameHeartbeat, "", corefeed.Position{Revision: latest})
		}
	}
}

func newFakeCore(t testing.TB, keys ...*auth.Key) *fakeCore {
	c := &fakeCore{apiKeys: map[string]coreclient.Answer{}, tenants: map[string][]string{}}
	c.feed.changed, c.feed.cut = make(chan struct{}), make(chan struct{})
	c.setKeys(keys...)
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *fakeCore) setKeys(keys ...*auth.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jwks = auth.JWKS{Keys: []auth.JWK{}}
	for _, k := range keys {
		c.jwks.Keys = append(c.jwks.Keys, k.JWK())
	}
}

func (c *fakeCore) setStatus(s int) { c.mu.Lock(); c.status = s; c.mu.Unlock() }

func (c *fakeCore) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == corefeed.Path {
		c.serveFeed(w, r)
		return
	}
	c.mu.Lock()
	status, delay := c.status, c.delay
	c.mu.Unlock()
	time.Sleep(delay)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/auth/jwks.json":
		c.jwksHits.Add(1)
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		json.NewEncoder(w).Encode(c.jwks)
	case r.Method == http.MethodPost && r.URL.Path == "/api/auth/verify":
		var ans coreclient.Answer
		ok := false
		if key := r.Header.Get("X-API-Key"); key != "" {
			c.keyHits.Add(1)
			c.mu.Lock()
			ans, ok = c.apiKeys[key]
			c.mu.Unlock()
		} else if tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
			c.tokHits.Add(1)
			var claims auth.Claims
			if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err == nil {
				c.mu.Lock()
				ans = coreclient.Answer{UserID: claims.Subject, TenantID: claims.TenantID, Roles: claims.Roles, EnabledServices: c.tenants[claims.TenantID]}
				c.mu.Unlock()
				ok = true
			}
		}
		switch {
		case status != 0:
			w.WriteHeader(status)
		case !ok:
			http.Error(w, `{"status":401}`, http.StatusUnauthorized)
		default:
			json.NewEncoder(w).Encode(ans)
		}
	default:
		http.NotFound(w, r)
	}
}

// fixture is a handler wired to a fake core, with keys and tokens.
type fixture struct {
	t     *testing.T
	h     *JWTAuth
	core  *fakeCore
	clock *clock
	key   *auth.Key // in the JWKS
	rogue *auth.Key // not in the JWKS
}

func newFixture(t *testing.T, configure ...func(h *JWTAuth)) *fixture {
	t.Helper()
	key, err := auth.GenerateKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := auth.GenerateKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, core: newFakeCore(t, key), clock: newClock(), key: key, rogue: rogue}
	f.core.tenants["t1"] = []string{"billing", "orders"}
	f.core.tenants["t2"] = []string{"billing"}
	// The feed's staleness follows the fake clock, which tests advance
	// while the feed's heartbeats come in real time: only the tests of a
	// stale feed set a bound.
	f.h = &JWTAuth{Core: f.core.URL, SigningSecret: testSecret, FeedMaxStaleness: caddy.Duration(24 * time.Hour)}
	for _, c := range configure {
		c(f.h)
	}
	f.h.now = f.clock.Now
	f.start()
	return f
}

// start provisions the handler and waits for its first JWKS fetch.
func (f *fixture) start() {
	f.t.Helper()
	if err := f.h.setup(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.h.Validate(); err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.h.start(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.t.Cleanup(func() { cancel(); f.h.Cleanup() })
	f.core.mu.Lock()
	expectKeys := f.core.status == 0 && len(f.core.jwks.Keys) > 0
	f.core.mu.Unlock()
	testenv.Eventually(f.t, 5*time.Second, func() bool {
		return f.core.jwksHits.Load() > 0 && (!expectKeys || f.h.rt.keys.Load().keys != nil)
	}, "the JWKS was never fetched")
	// The feed's first frame (a reset) drops every cache: let it come
	// before the test fills them.
	testenv.Eventually(f.t, 5*time.Second, func() bool { return f.h.rt.feed.StaleFor(f.h.now()) == 0 },
		"the feed never connected")
}

// token signs claims for user in tenant with roles, then applies edits to
// the registered claims (after Issuer.Sign would set them).
func (f *fixture) token(user, tenant string, roles ...string) string {
	f.t.Helper()
	tok, _, err := auth.Issuer{Issuer: "plugboard", Audience: "plugboard", TTL: 10 * time.Minute}.Sign(f.key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user}, TenantID: tenant, Roles: roles, Scopes: []string{"read", "write"},
	}, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// forge signs arbitrary claims with any method and key under kid.
func (f *fixture) forge(m jwt.SigningMethod, kid string, key any, edit func(c *auth.Claims)) string {
	f.t.Helper()
	now := f.clock.Now()
	c := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u1", Issuer: "plugboard", Audience: jwt.ClaimStrings{"plugboard"},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}, TenantID: "t1", Roles: []string{"user"}}
	if edit != nil {
		edit(&c)
	}
	tok := jwt.NewWithClaims(m, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// apiKey registers a new API key with core.
func (f *fixture) apiKey(user, tenant string, services []string, roles ...string) string {
	f.t.Helper()
	return f.scopedKey(user, tenant, services, []string{"read"}, roles...)
}

// scopedKey is apiKey with the key's scopes.
func (f *fixture) scopedKey(user, tenant string, services, scopes []string, roles ...string) string {
	f.t.Helper()
	key, _, _, err := auth.NewAPIKey()
	if err != nil {
		f.t.Fatal(err)
	}
	f.core.mu.Lock()
	f.core.apiKeys[key] = coreclient.Answer{UserID: user, TenantID: tenant, Roles: roles, Scopes: scopes, EnabledServices: services, KeyID: "key-" + key[len(key)-8:], APIKeyID: "key-" + key[len(key)-8:]}
	f.core.mu.Unlock()
	return key
}

// call describes a request as plugboard_route would hand it on.
type call struct {
	method   string
	path     string
	service  string
	endpoint *registry.Endpoint
	metadata string
	headers  map[string]string
	// undeclared and undeclaredPaths are as plugboard_route would set them.
	undeclared      bool
	undeclaredPaths registry.UndeclaredPaths
}

// result is what came of a call.
type result struct {
	err      error
	status   int    // the error's status; 0 when the request went on
	detail   string // the PublicError's message
	header   http.Header
	upstream *http.Request // what the next handler saw; nil if not called
	vars     map[string]any
}

func (f *fixture) do(c call) result {
	f.t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.path == "" {
		c.path = "/api/orders/items/1"
	}
	if c.service == "" {
		c.service = "orders"
	}
	r := httptest.NewRequest(c.method, c.path, nil)
	for k, v := range c.headers {
		r.Header[k] = []string{v} // as sent: not canonicalized
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	ctx := r.Context()
	caddyhttp.SetVar(ctx, gatewayctx.VarService, c.service)
	caddyhttp.SetVar(ctx, gatewayctx.VarResolved, &gatewayctx.Resolved{
		Service: c.service, Path: strings.TrimPrefix(c.path, "/api/"+c.service), Endpoint: c.endpoint, Metadata: json.RawMessage(c.metadata),
		Undeclared: c.undeclared, UndeclaredPaths: c.undeclaredPaths})
	var res result
	err := f.h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		res.upstream = r
		return nil
	}))
	res.err, res.header = err, w.Header()
	res.vars, _ = ctx.Value(caddyhttp.VarsCtxKey).(map[string]any)
	if err != nil {
		var herr caddyhttp.HandlerError
		if !errors.As(err, &herr) {
			f.t.Fatalf("error %v is not a caddyhttp.HandlerError", err)
		}
		res.status = herr.StatusCode
		var pub gatewayctx.PublicError
		if !errors.As(err, &pub) || pub.Message == "" {
			f.t.Fatalf("error %v carries no public message", err)
		}
		res.detail = pub.Message
		if res.upstream != nil {
			f.t.Fatal("the next handler ran although the handler failed")
		}
	}
	return res
}

var (
	epItems  = &registry.Endpoint{Path: "/items/{id}", Method: "GET"}
	epPublic = &registry.Endpoint{Path: "/health", Method: "GET", IsPublic: true}
	epAdmin  = &registry.Endpoint{Path: "/admin", Method: "POST", RequiredRoles: []string{"tenant_admin", "ops"}}
)

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestServeHTTP(t *testing.T) {
	f := newFixture(t)
	userKey := f.apiKey("u9", "t1", []string{"orders"}, "user")
	tenantKey := f.apiKey("", "t1", []string{"orders"})
	superKey := f.apiKey("u0", "t2", nil, "super_admin")
	adminScoped := []string{"x:read", "core:admin"}
	userAdminKey := f.scopedKey("u9", "t1", []string{"orders"}, adminScoped, "user")
	superAdminKey := f.scopedKey("u0", "t2", nil, adminScoped, "super_admin")
	// Issue 15 finding 21: a tenant_admin's key scoped only x:read.
	readOnlyAdminKey := f.scopedKey("u5", "t1", []string{"orders"}, []string{"x:read"}, "tenant_admin")
	fullAdminKey := f.scopedKey("u5", "t1", []string{"orders"}, adminScoped, "tenant_admin")
	noServiceKey := f.apiKey("u8", "t2", []string{"billing"}, "user")
	unknownKey, _, _, _ := auth.NewAPIKey()
	const challenge, invalidToken = `Bearer realm="plugboard"`, `Bearer realm="plugboard", error="invalid_token"`

	for _, tc := range []struct {
		name          string
		call          call
		status        int    // 0: passes to the next handler
		user, tenant  string // identity expected on a pass; "" user and tenant: anonymous
		roles         string
		authenticate  string // WWW-Authenticate expected on a 401
		detailContain string
	}{
		// Policy.
		{name: "no credentials, protected endpoint", call: call{endpoint: epItems}, status: 401, authenticate: challenge, detailContain: "Credentials are required"},
		{name: "no credentials, no endpoint, default policy", call: call{}, status: 401, authenticate: challenge},
		{name: "no credentials, public endpoint", call: call{path: "/api/orders/health", endpoint: epPublic}},
		{name: "no credentials, metadata auth public", call: call{metadata: `{"auth":"public","team":"x"}`}},
		{name: "no credentials, metadata auth authenticated", call: call{metadata: `{"auth":"authenticated"}`}, status: 401, authenticate: challenge},
		{name: "no credentials, metadata auth bogus falls back", call: call{metadata: `{"auth":"maybe"}`}, status: 401, authenticate: challenge},
		{name: "no credentials, endpoint beats metadata", call: call{endpoint: epItems, metadata: `{"auth":"public"}`}, status: 401, authenticate: challenge},
		{name: "public endpoint with a valid token keeps the identity", call: call{endpoint: epPublic, headers: bearer(f.token("u1", "t2", "user"))}, user: "u1", tenant: "t2", roles: "user"},
		{name: "public endpoint with a bad token passes anonymously", call: call{endpoint: epPublic, headers: bearer("garbage")}},
		{name: "public endpoint, basic auth passes anonymously", call: call{endpoint: epPublic, headers: map[string]string{"Authorization": "Basic dTpw"}}},
		{name: "public endpoint, two credentials pass anonymously", call: call{endpoint: epPublic, headers: map[string]string{"X-Api-Key": userKey, "Authorization": "ApiKey " + userKey}}},

		// Tokens.
		{name: "valid token", call: call{endpoint: epItems, headers: bearer(f.token("u1", "t1", "user"))}, user: "u1", tenant: "t1", roles: "user"},
		{name: "valid token, no endpoint", call: call{headers: bearer(f.token("u1", "t1", "user"))}, user: "u1", tenant: "t1", roles: "user"},
		{name: "lower-case bearer scheme", call: call{endpoint: epItems, headers: map[string]string{"Authorization": "bearer " + f.token("u1", "t1", "user")}}, user: "u1", tenant: "t1", roles: "user"},
		{name: "garbage token", call: call{endpoint: epItems, headers: bearer("garbage")}, status: 401, authenticate: invalidToken},
		{name: "empty bearer", call: call{endpoint: epItems, headers: map[string]string{"Authorization": "Bearer "}}, status: 401, authenticate: invalidToken},
		{name: "basic auth", call: call{endpoint: epItems, headers: map[string]string{"Authorization": "Basic dTpw"}}, status: 401, authenticate: invalidToken},
		{name: "alg none", call: call{endpoint: epItems, headers: bearer(f.forge(jwt.SigningMethodNone, f.key.ID, jwt.UnsafeAllowNoneSignatureType, nil))}, status: 401, authenticate: invalidToken},
		{name: "HS256 with the public key as secret", call: call{endpoint: epItems, headers: bearer(f.forge(jwt.SigningMethodHS256, f.key.ID, []byte(f.key.Public), nil))}, status: 401, authenticate: invalidToken},
		{name: "expired", call: call{endpoint: epItems, headers: bearer(f.forge(jwt.SigningMethodEdDSA, f.key.ID, f.key.Private, func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(f.clock.Now().Add(-time.Minute))
		}))}, status: 401, authenticate: invalidToken, detailContain: "expired"},
		{name: "not yet valid", call: call{endpoint: epItems, headers: bearer(f.forge(jwt.SigningMethodEdDSA, f.key.ID, f.key.Private, func(c *auth.Claims) {
			c.NotBefore = jwt.NewNumericDate(f.clock.Now().Add(time.Minute))
		}))}, status: 401, authenticate: invalidToken},
		{name: "wrong issuer", call: call{endpoint: epItems, headers: bearer(f.forge(jwt.SigningMethodEdDSA, f.key.ID, f.key.Private, func(c *auth.Claims) { c.Issuer = "evil" }))}, status: 401, authenticate: invalidToken},
		{name: "wrong audience", call: call{endpoint: epItems, headers: bearer(f.forge(jwt.SigningMethodEdDSA, f.key.ID, f.key.Private, func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"other"} }))}, status: 401, authenticate: invalidToken},
		{name: "signed by a key not in the JWKS under its kid", call: call{endpoint: epItems, headers: bearer(f.forge(jwt.SigningMethodEdDSA, f.key.ID, f.rogue.Private, nil))}, status: 401, authenticate: invalidToken},

		// Roles.
		{name: "missing required role", call: call{method: "POST", path: "/api/orders/admin", endpoint: epAdmin, headers: bearer(f.token("u1", "t1", "user"))}, status: 403, detailContain: "tenant_admin, ops"},
		{name: "one of the required roles", call: call{method: "POST", path: "/api/orders/admin", endpoint: epAdmin, headers: bearer(f.token("u2", "t1", "user", "ops"))}, user: "u2", tenant: "t1", roles: "user,ops"},
		{name: "super_admin passes roles", call: call{method: "POST", path: "/api/orders/admin", endpoint: epAdmin, headers: bearer(f.token("u0", "t1", "super_admin"))}, user: "u0", tenant: "t1", roles: "super_admin"},
		{name: "no roles at all", call: call{endpoint: epAdmin, headers: bearer(f.token("u3", "t1"))}, status: 403},

		// Tenant services.
		{name: "tenant without the service", call: call{endpoint: epItems, headers: bearer(f.token("u4", "t2", "tenant_admin"))}, status: 403, detailContain: `"orders"`},
		{name: "unknown tenant", call: call{endpoint: epItems, headers: bearer(f.token("u4", "t3", "user"))}, status: 403},
		{name: "super_admin passes a disabled service", call: call{endpoint: epItems, headers: bearer(f.token("u0", "t2", "super_admin"))}, user: "u0", tenant: "t2", roles: "super_admin"},
		{name: "other service of the tenant", call: call{service: "billing", endpoint: epItems, headers: bearer(f.token("u4", "t2", "user"))}, user: "u4", tenant: "t2", roles: "user"},

		// API keys.
		// Without core:admin a key acts with no role (rbac.KeyRoles), as in core's API.
		{name: "API key in X-API-Key", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": userKey}}, user: "u9", tenant: "t1", roles: ""},
		{name: "API key in Authorization", call: call{endpoint: epItems, headers: map[string]string{"Authorization": "ApiKey " + userKey}}, user: "u9", tenant: "t1", roles: ""},
		{name: "API key with core:admin carries its user's role", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": userAdminKey}}, user: "u9", tenant: "t1", roles: "user"},
		{name: "tenant_admin key without core:admin", call: call{method: "POST", endpoint: epAdmin, headers: map[string]string{"X-Api-Key": readOnlyAdminKey}}, status: 403, detailContain: "tenant_admin"},
		{name: "tenant_admin key without core:admin, no required role", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": readOnlyAdminKey}}, user: "u5", tenant: "t1", roles: ""},
		{name: "tenant_admin key with core:admin", call: call{method: "POST", endpoint: epAdmin, headers: map[string]string{"X-Api-Key": fullAdminKey}}, user: "u5", tenant: "t1", roles: "tenant_admin"},
		{name: "tenant-wide API key", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": tenantKey}}, user: "", tenant: "t1"},
		{name: "unknown API key", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": unknownKey}}, status: 401, authenticate: invalidToken},
		{name: "malformed API key", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": "hunter2"}}, status: 401, authenticate: invalidToken},
		{name: "API key without the service", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": noServiceKey}}, status: 403},
		{name: "super_admin API key with core:admin", call: call{method: "POST", endpoint: epAdmin, headers: map[string]string{"X-Api-Key": superAdminKey}}, user: "u0", tenant: "t2", roles: "super_admin"},
		{name: "super_admin API key without core:admin", call: call{method: "POST", endpoint: epAdmin, headers: map[string]string{"X-Api-Key": superKey}}, status: 403},
		{name: "super_admin API key without core:admin passes no disabled service", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": superKey}}, status: 403, detailContain: `"orders"`},
		{name: "two credentials", call: call{endpoint: epItems, headers: map[string]string{"X-Api-Key": userKey, "Authorization": "Bearer " + f.token("u1", "t1", "user")}}, status: 401, authenticate: invalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.call
			if c.headers == nil {
				c.headers = map[string]string{}
			}
			c.headers["X-Plugboard-User-Id"] = "spoofed"
			c.headers["x-plugboard-roles"] = "super_admin"
			c.headers["X-PLUGBOARD-ANYTHING"] = "spoofed"
			res := f.do(c)
			if res.status != tc.status {
				t.Fatalf("status %d (%v), want %d", res.status, res.err, tc.status)
			}
			if tc.status == 401 && res.header.Get("WWW-Authenticate") != tc.authenticate {
				t.Errorf("WWW-Authenticate %q, want %q", res.header.Get("WWW-Authenticate"), tc.authenticate)
			}
			if tc.status != 401 && res.header.Get("WWW-Authenticate") != "" {
				t.Errorf("WWW-Authenticate %q on a %d", res.header.Get("WWW-Authenticate"), tc.status)
			}
			if !strings.Contains(res.detail, tc.detailContain) {
				t.Errorf("detail %q lacks %q", res.detail, tc.detailContain)
			}
			if tc.status != 0 {
				return
			}
			up := res.upstream.Header
			for k := range up {
				if strings.HasPrefix(strings.ToLower(k), "x-plugboard-") && !strings.HasPrefix(k, "X-Plugboard-") {
					t.Errorf("client-sent %s reached the service", k)
				}
			}
			if up.Get("X-Plugboard-Anything") != "" {
				t.Error("client-sent X-Plugboard-Anything reached the service")
			}
			if up.Get("X-Api-Key") != "" || strings.HasPrefix(up.Get("Authorization"), "ApiKey") {
				t.Error("the API key reached the service")
			}
			if a, ok := up["Authorization"]; ok {
				t.Errorf("the client's Authorization %q reached the service", a)
			}
			anonymous := tc.user == "" && tc.tenant == ""
			if anonymous {
				for _, h := range []string{HeaderUserID, HeaderTenantID, HeaderRoles, HeaderScopes, HeaderTimestamp, HeaderSignature} {
					if _, ok := up[h]; ok {
						t.Errorf("anonymous request carries %s: %q", h, up.Get(h))
					}
				}
				return
			}
			if got := up.Get(HeaderUserID); got != tc.user {
				t.Errorf("%s = %q, want %q", HeaderUserID, got, tc.user)
			}
			if got := up.Get(HeaderTenantID); got != tc.tenant {
				t.Errorf("%s = %q, want %q", HeaderTenantID, got, tc.tenant)
			}
			if got := up.Get(HeaderRoles); got != tc.roles {
				t.Errorf("%s = %q, want %q", HeaderRoles, got, tc.roles)
			}
			if want := strconv.FormatInt(f.clock.Now().Unix(), 10); up.Get(HeaderTimestamp) != want {
				t.Errorf("%s = %q, want %s", HeaderTimestamp, up.Get(HeaderTimestamp), want)
			}
			svc := cmp.Or(tc.call.service, "orders") // signed with the key of the service it goes to
			if !CheckSignature([][]byte{[]byte(ServiceKey([]byte(testSecret), svc))}, up.Get(HeaderSignature), svc, res.upstream.Method, res.upstream.URL.EscapedPath(),
				up.Get(HeaderUserID), up.Get(HeaderTenantID), up.Get(HeaderRoles), up.Get(HeaderScopes), up.Get(HeaderTimestamp), f.clock.Now(), time.Minute) {
				t.Errorf("signature %q does not verify", up.Get(HeaderSignature))
			}
			if res.vars[gatewayctx.VarUserID] != tc.user || res.vars[gatewayctx.VarTenantID] != tc.tenant {
				t.Errorf("vars %v, %v", res.vars[gatewayctx.VarUserID], res.vars[gatewayctx.VarTenantID])
			}
		})
	}
}

func TestTokenScopesAndCache(t *testing.T) {
	f := newFixture(t)
	tok := f.token("u1", "t1", "user", "ops")
	for i := range 3 {
		res := f.do(call{endpoint: epItems, headers: bearer(tok)})
		if res.err != nil {
			t.Fatalf("request %d: %v", i, res.err)
		}
		if got := res.upstream.Header.Get(HeaderScopes); got != "read,write" {
			t.Errorf("scopes %q", got)
		}
	}
	if n := f.h.rt.keys.Load().tokens.Len(); n != 1 {
		t.Errorf("token cache holds %d entries, want 1", n)
	}
	if n := f.core.tokHits.Load(); n != 1 {
		t.Errorf("core asked %d times for the tenant's services, want 1", n)
	}
	// Another user of the tenant shares the cached services.
	if res := f.do(call{endpoint: epItems, headers: bearer(f.token("u2", "t1", "user"))}); res.err != nil {
		t.Fatal(res.err)
	}
	if n := f.core.tokHits.Load(); n != 1 {
		t.Errorf("core asked %d times, want 1", n)
	}
	// The cache entry expires at exp; the verifier's leeway then still
	// accepts the token for 30s, and no longer.
	f.clock.Advance(10*time.Minute + time.Second)
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
		t.Errorf("within the leeway: %v", res.err)
	}
	f.clock.Advance(30 * time.Second)
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 401 || !strings.Contains(res.detail, "expired") {
		t.Errorf("expired cached token: %d %q", res.status, res.detail)
	}
}

func TestServiceDisabledWithinTTL(t *testing.T) {
	f := newFixture(t)
	if res := f.do(call{endpoint: epItems, headers: bearer(f.token("u1", "t1", "user"))}); res.err != nil {
		t.Fatal(res.err)
	}
	f.core.mu.Lock()
	f.core.tenants["t1"] = []string{"billing"}
	f.core.mu.Unlock()
	f.clock.Advance(29 * time.Second)
	if res := f.do(call{endpoint: epItems, headers: bearer(f.token("u1", "t1", "user"))}); res.err != nil {
		t.Fatalf("within the TTL: %v", res.err)
	}
	f.clock.Advance(2 * time.Second)
	if res := f.do(call{endpoint: epItems, headers: bearer(f.token("u1", "t1", "user"))}); res.status != 403 {
		t.Fatalf("after the TTL: %d %v", res.status, res.err)
	}
}

func TestUnknownKidRefetchesOnce(t *testing.T) {
	f := newFixture(t)
	before := f.core.jwksHits.Load()
	tok := f.forge(jwt.SigningMethodEdDSA, f.rogue.ID, f.rogue.Private, nil)
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 401 {
		t.Fatalf("unknown kid: %d %v", res.status, res.err)
	}
	if got := f.core.jwksHits.Load() - before; got != 1 {
		t.Errorf("JWKS fetched %d times for an unknown kid, want 1", got)
	}
	f.clock.Advance(5 * time.Second)
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 401 {
		t.Fatalf("unknown kid again: %d %v", res.status, res.err)
	}
	if got := f.core.jwksHits.Load() - before; got != 1 {
		t.Errorf("JWKS fetched %d times within 10s, want 1", got)
	}

	// Core rotates in the new key: the next refetch window finds it.
	f.core.setKeys(f.key, f.rogue)
	f.clock.Advance(6 * time.Second)
	tok = f.forge(jwt.SigningMethodEdDSA, f.rogue.ID, f.rogue.Private, nil)
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
		t.Fatalf("after rotation: %v", res.err)
	}
	if got := f.core.jwksHits.Load() - before; got != 2 {
		t.Errorf("JWKS fetched %d times, want 2", got)
	}
}

func TestJWKSChangeDropsCachedTokens(t *testing.T) {
	f := newFixture(t)
	tok := f.token("u1", "t1", "user")
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
		t.Fatal(res.err)
	}
	// The same JWKS again keeps the cache.
	kr := f.h.rt.keys.Load()
	f.fetch()
	if f.h.rt.keys.Load() != kr {
		t.Error("an unchanged JWKS replaced the keyring")
	}
	// Core retires the key: the cached token goes with it.
	f.core.setKeys(f.rogue)
	f.fetch()
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 401 {
		t.Fatalf("token of a retired key: %d %v", res.status, res.err)
	}
}

func (f *fixture) fetch() {
	f.t.Helper()
	f.h.rt.fetchMu.Lock()
	defer f.h.rt.fetchMu.Unlock()
	if err := f.h.fetchKeys(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func TestAPIKeyRevocation(t *testing.T) {
	f := newFixture(t)
	key := f.apiKey("u9", "t1", []string{"orders"}, "user")
	req := call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key}}
	for i := range 3 {
		if res := f.do(req); res.err != nil {
			t.Fatalf("request %d: %v", i, res.err)
		}
	}
	if n := f.core.keyHits.Load(); n != 1 {
		t.Fatalf("core asked %d times, want 1", n)
	}
	f.core.mu.Lock()
	delete(f.core.apiKeys, key) // revoked: core answers 401 from now on
	f.core.mu.Unlock()
	f.clock.Advance(29 * time.Second)
	if res := f.do(req); res.err != nil {
		t.Fatalf("within the TTL: %v", res.err)
	}
	f.clock.Advance(2 * time.Second)
	if res := f.do(req); res.status != 401 {
		t.Fatalf("after the TTL: %d %v", res.status, res.err)
	}
	if res := f.do(req); res.status != 401 {
		t.Fatalf("refusal not cached: %d %v", res.status, res.err)
	}
	if n := f.core.keyHits.Load(); n != 2 {
		t.Errorf("core asked %d times, want 2 (the refusal is cached)", n)
	}
}

func TestAPIKeyConcurrentMissesShareOneCall(t *testing.T) {
	f := newFixture(t)
	f.core.mu.Lock()
	f.core.delay = 50 * time.Millisecond
	f.core.mu.Unlock()
	key := f.apiKey("u9", "t1", []string{"orders"}, "user")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if res := f.do(call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key}}); res.err != nil {
				errs <- res.err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.core.keyHits.Load(); n != 1 {
		t.Errorf("core asked %d times, want 1", n)
	}
}

func TestCoreUnavailable(t *testing.T) {
	f := newFixture(t)
	key := f.apiKey("u9", "t1", []string{"orders"}, "user")
	f.core.setStatus(http.StatusInternalServerError)
	for _, tc := range []struct {
		name   string
		call   call
		status int
	}{
		{"API key", call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key}}, 503},
		{"token needing the tenant's services", call{endpoint: epItems, headers: bearer(f.token("u1", "t1", "user"))}, 503},
		{"super_admin token needs no core", call{endpoint: epItems, headers: bearer(f.token("u0", "t1", "super_admin"))}, 0},
		{"public endpoint with an API key passes anonymously", call{endpoint: epPublic, headers: map[string]string{"X-Api-Key": key}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := f.do(tc.call); res.status != tc.status {
				t.Errorf("status %d (%v), want %d", res.status, res.err, tc.status)
			}
		})
	}
	// Failures are not cached past the back-off (core is asked again a
	// second after a failed call).
	f.core.setStatus(0)
	f.clock.Advance(coreclient.Backoff)
	if res := f.do(call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key}}); res.err != nil {
		t.Errorf("core is back: %v", res.err)
	}
}

func TestStartWithCoreDown(t *testing.T) {
	key, _ := auth.GenerateKey(t0)
	core := newFakeCore(t, key)
	core.tenants["t1"] = []string{"orders"}
	core.setStatus(http.StatusBadGateway)
	f := &fixture{t: t, core: core, clock: newClock(), key: key}
	f.h = &JWTAuth{Core: core.URL, SigningSecret: testSecret}
	f.h.now = f.clock.Now
	f.start() // provisioning does not fail
	tok := f.token("u1", "t1", "user")
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 401 {
		t.Fatalf("no keys yet: %d %v", res.status, res.err)
	}
	core.setStatus(0)
	f.clock.Advance(11 * time.Second) // the next unknown-kid refetch is allowed
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
		t.Fatalf("core is back: %v", res.err)
	}
}

func TestRefresherRecovers(t *testing.T) {
	key, _ := auth.GenerateKey(t0)
	core := newFakeCore(t, key)
	core.setStatus(http.StatusServiceUnavailable)
	f := &fixture{t: t, core: core, clock: newClock(), key: key}
	f.h = &JWTAuth{Core: core.URL, SigningSecret: testSecret}
	f.h.now = f.clock.Now
	f.start()
	core.setStatus(0)
	// The first retry comes after 1s.
	testenv.Eventually(t, 5*time.Second, func() bool { return f.h.rt.keys.Load().keys != nil },
		"the refresher never fetched the JWKS after core came back")
}

func TestDefaultPolicyPublic(t *testing.T) {
	f := newFixture(t, func(h *JWTAuth) { h.DefaultPolicy = PolicyPublic })
	if res := f.do(call{}); res.err != nil {
		t.Errorf("undeclared endpoint: %v", res.err)
	}
	if res := f.do(call{metadata: `{"auth":"authenticated"}`}); res.status != 401 {
		t.Errorf("metadata authenticated: %d", res.status)
	}
	if res := f.do(call{endpoint: epItems}); res.status != 401 {
		t.Errorf("declared endpoint: %d", res.status)
	}
}

func TestProvision(t *testing.T) {
	t.Run("secret file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gateway.secret")
		os.WriteFile(path, []byte("  from-a-file-0123456789\n"), 0o600)
		h := &JWTAuth{SigningSecretFile: path}
		if err := h.setup(); err != nil {
			t.Fatal(err)
		}
		if string(h.secret) != "from-a-file-0123456789" || h.Core != "http://127.0.0.1:8082" || h.Issuer != "plugboard" || h.Audience != "plugboard" ||
			h.JWKSRefresh != caddy.Duration(5*time.Minute) || h.KeyCacheTTL != caddy.Duration(30*time.Second) ||
			h.Timeout != caddy.Duration(5*time.Second) || h.DefaultPolicy != PolicyAuthenticated {
			t.Errorf("defaults: %+v", h)
		}
	})
	t.Run("secret placeholder wins over the file", func(t *testing.T) {
		t.Setenv("MY_SECRET", "s3cret")
		h := &JWTAuth{SigningSecret: "{env.MY_SECRET}", SigningSecretFile: "/nonexistent/gateway.secret"}
		if err := h.setup(); err != nil || string(h.secret) != "s3cret" {
			t.Fatalf("secret %q, %v", h.secret, err)
		}
	})
	// Provisioning only reads (issue 13): even `caddy validate` used to
	// write a secret into the data directory. A missing, short or unset
	// file is an error that names the option.
	for _, tc := range []struct {
		name    string
		content string // "": no file
		want    string
	}{
		{"missing file", "", "signing_secret_file"},
		{"short file", "short\n", "holds 5 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "gateway.secret")
			if tc.content != "" {
				os.WriteFile(path, []byte(tc.content), 0o600)
			}
			t.Setenv("UNSET_SECRET", "")
			h := &JWTAuth{SigningSecret: "{env.UNSET_SECRET}", SigningSecretFile: path}
			err := h.setup()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "signing_secret_file") {
				t.Fatalf("setup: %v; want an error naming signing_secret_file and %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 1 || (tc.content == "" && len(entries) != 0) {
				t.Fatalf("setup wrote into %s: %v", dir, entries)
			}
		})
	}
	t.Run("no secret configured", func(t *testing.T) {
		t.Setenv("PLUGBOARD_GATEWAY_SIGNING_SECRET", "set-but-not-configured-0123")
		if err := (&JWTAuth{}).setup(); err == nil || !strings.Contains(err.Error(), "signing_secret_file") {
			t.Fatalf("setup with no secret option: %v", err)
		}
	})
	for _, tc := range []struct {
		name string
		h    JWTAuth
	}{
		{"core not a URL", JWTAuth{Core: "127.0.0.1:8082"}},
		{"core ftp", JWTAuth{Core: "ftp://core"}},
		{"bad policy", JWTAuth{DefaultPolicy: "open"}},
		{"forward_authorization to a bad name", JWTAuth{ForwardAuthorization: []string{"orders", "../core"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.h.SigningSecret = testSecret
			if err := tc.h.setup(); err != nil {
				t.Fatal(err)
			}
			if err := tc.h.Validate(); err == nil {
				t.Error("Validate accepted it")
			}
		})
	}
}

// BenchmarkServeHTTP compares a cached access token's path through the
// handler with calling the next handler directly.
func BenchmarkServeHTTP(b *testing.B) {
	key, _ := auth.GenerateKey(t0)
	core := newFakeCore(b, key)
	core.tenants["t1"] = []string{"orders"}
	h := &JWTAuth{Core: core.URL, SigningSecret: testSecret}
	clk := newClock()
	h.now = clk.Now
	if err := h.setup(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.start(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.rt.fetchMu.Lock()
	err := h.fetchKeys(ctx)
	h.rt.fetchMu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	testenv.Eventually(b, 5*time.Second, func() bool { return h.rt.feed.StaleFor(clk.Now()) == 0 }, "the feed never connected")
	tok, _, err := auth.Issuer{Issuer: "plugboard", Audience: "plugboard", TTL: time.Hour}.Sign(key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "u1"}, TenantID: "t1", Roles: []string{"user"}, Scopes: []string{"read"},
	}, clk.Now())
	if err != nil {
		b.Fatal(err)
	}
	newRequest := func() (http.ResponseWriter, *http.Request) {
		r := httptest.NewRequest("GET", "/api/orders/items/1", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("X-Plugboard-User-Id", "spoofed")
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		caddyhttp.SetVar(r.Context(), gatewayctx.VarService, "orders")
		caddyhttp.SetVar(r.Context(), gatewayctx.VarResolved, &gatewayctx.Resolved{Service: "orders", Endpoint: epItems})
		return w, r
	}
	w, r := newRequest()
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	if err := h.ServeHTTP(w, r, next); err != nil { // warms the caches
		b.Fatal(err)
	}

	b.Run("noop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := next.ServeHTTP(w, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	// jwt_auth removes Authorization before proxying, so each request puts
	// it back (a map assignment of the same slice: no allocation).
	authz := []string{"Bearer " + tok}
	b.Run("jwt_auth_cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Header["Authorization"] = authz
			if err := h.ServeHTTP(w, r, next); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same with revocations learnt from core's feed (none matching).
	b.Run("jwt_auth_cached_denylist_10k", func(b *testing.B) {
		for i := range 10000 {
			h.rt.deny.add(corefeed.Event{Kind: []corefeed.Kind{corefeed.SessionRevoked, corefeed.UserRevoked, corefeed.TenantRevoked}[i%3],
				SessionID: fmt.Sprint("s", i), UserID: fmt.Sprint("u-", i), TenantID: fmt.Sprint("t-", i), At: clk.Now()}, time.Hour, clk.Now())
		}
		b.Cleanup(func() { h.rt.deny = newDenylist() })
		b.ReportAllocs()
		for b.Loop() {
			r.Header["Authorization"] = authz
			if err := h.ServeHTTP(w, r, next); err != nil {
				b.Fatal(err)
			}
		}
	})
	// An API key whose answer from core is cached (internal/coreclient).
	apiKey, _, _, err := auth.NewAPIKey()
	if err != nil {
		b.Fatal(err)
	}
	core.mu.Lock()
	core.apiKeys[apiKey] = coreclient.Answer{UserID: "u1", TenantID: "t1", Roles: []string{"user"}, Scopes: []string{"read"}, EnabledServices: []string{"orders"}, APIKeyID: "k1", KeyID: "k1"}
	core.mu.Unlock()
	keyHeader := []string{apiKey}
	delete(r.Header, "Authorization")
	r.Header["X-Api-Key"] = keyHeader
	if err := h.ServeHTTP(w, r, next); err != nil { // caches core's answer
		b.Fatal(err)
	}
	b.Run("jwt_auth_cached_api_key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Header["X-Api-Key"] = keyHeader
			if err := h.ServeHTTP(w, r, next); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jwt_auth_cached_parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w, r := newRequest() // vars maps are per request
			for pb.Next() {
				r.Header["Authorization"] = authz
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestAuthorizationIsNotForwarded performs finding 7 of issue 11: a
// plugin received the caller's bearer token and could replay it against
// core. Only the services the operator names in forward_authorization get
// it, and never an API key.
func TestAuthorizationIsNotForwarded(t *testing.T) {
	f := newFixture(t, func(h *JWTAuth) { h.ForwardAuthorization = []string{"billing"} })
	tok := f.token("u1", "t1", "super_admin")
	userKey := f.apiKey("u9", "t1", []string{"orders", "billing"}, "user")
	for _, tc := range []struct {
		name    string
		call    call
		forward string // the Authorization the service must see; "" for none
	}{
		{name: "token to a plugin", call: call{endpoint: epItems, headers: bearer(tok)}},
		{name: "token to a public endpoint", call: call{endpoint: epPublic, headers: bearer(tok)}},
		{name: "basic auth to a public endpoint", call: call{endpoint: epPublic, headers: map[string]string{"Authorization": "Basic dTpw"}}},
		{name: "token to a named service", call: call{service: "billing", endpoint: epItems, headers: bearer(tok)}, forward: "Bearer " + tok},
		{name: "basic auth to a named service's public endpoint", call: call{service: "billing", endpoint: epPublic, headers: map[string]string{"Authorization": "Basic dTpw"}}, forward: "Basic dTpw"},
		{name: "API key to a named service", call: call{service: "billing", endpoint: epItems, headers: map[string]string{"Authorization": "ApiKey " + userKey}}},
		{name: "API key to a named service's public endpoint", call: call{service: "billing", endpoint: epPublic, headers: map[string]string{"Authorization": "apikey " + userKey}}},
		{name: "API key with a tab to a named service's public endpoint", call: call{service: "billing", endpoint: epPublic, headers: map[string]string{"Authorization": "ApiKey\t" + userKey}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(tc.call)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if got := res.upstream.Header.Get("Authorization"); got != tc.forward {
				t.Fatalf("the service saw Authorization %q, want %q", got, tc.forward)
			}
		})
	}
}

// TestUndeclaredPathsDeny checks that a service declaring undeclared_paths
// "deny" gets no request that matches none of its endpoints: 404 once the
// caller is authenticated (401 before, so that anonymous clients do not
// learn which paths are declared), super_admin included.
func TestUndeclaredPathsDeny(t *testing.T) {
	f := newFixture(t)
	undeclared := &registry.Endpoint{Path: "/admin", Method: "PUT", RequiredRoles: []string{"tenant_admin"}} // as MatchEndpoint synthesizes it
	for _, tc := range []struct {
		name   string
		call   call
		status int
	}{
		{name: "unknown path", call: call{path: "/api/orders/secret", undeclared: true, undeclaredPaths: registry.UndeclaredDeny, headers: bearer(f.token("u1", "t1", "user"))}, status: 404},
		{name: "unknown path, super_admin", call: call{path: "/api/orders/secret", undeclared: true, undeclaredPaths: registry.UndeclaredDeny, headers: bearer(f.token("u0", "t1", "super_admin"))}, status: 404},
		{name: "undeclared method", call: call{method: "PUT", path: "/api/orders/admin", endpoint: undeclared, undeclared: true, undeclaredPaths: registry.UndeclaredDeny, headers: bearer(f.token("u1", "t1", "tenant_admin"))}, status: 404},
		{name: "unknown path, metadata public", call: call{path: "/api/orders/secret", metadata: `{"auth":"public"}`, undeclared: true, undeclaredPaths: registry.UndeclaredDeny}, status: 401},
		{name: "unknown path, anonymous", call: call{path: "/api/orders/secret", undeclared: true, undeclaredPaths: registry.UndeclaredDeny}, status: 401},
		{name: "declared path", call: call{endpoint: epItems, undeclaredPaths: registry.UndeclaredDeny, headers: bearer(f.token("u1", "t1", "user"))}},
		{name: "unknown path, authenticated", call: call{path: "/api/orders/secret", undeclared: true, undeclaredPaths: registry.UndeclaredAuthenticated, headers: bearer(f.token("u1", "t1", "user"))}},
		{name: "unknown path, default", call: call{path: "/api/orders/secret", undeclared: true, headers: bearer(f.token("u1", "t1", "user"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(tc.call)
			if res.status != tc.status {
				t.Fatalf("status %d (%v), want %d", res.status, res.err, tc.status)
			}
			if tc.status == 404 && !strings.Contains(res.detail, `"orders" declares no endpoint for `+tc.call.method) {
				t.Fatalf("detail %q", res.detail)
			}
		})
	}
}

// TestCoreOutageServesStaleAnswers performs issue 12's finding 6: with core
// unreachable, tenant users and API keys lost access once the 30-s cache
// expired, and every request made its own call to core. Now cached answers
// serve for stale_if_error past their TTL (a refusal known before the outage
// included), core is asked at most once per back-off, and past the bound
// the answer is 503, never 401.
func TestCoreOutageServesStaleAnswers(t *testing.T) {
	f := newFixture(t)
	tok := f.token("u1", "t1", "user")
	key := f.apiKey("u9", "t1", []string{"orders"}, "user")
	byToken := call{endpoint: epItems, headers: bearer(tok)}
	byKey := call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key}}
	refusedKey := call{endpoint: epItems, headers: map[string]string{"X-Api-Key": "pb_x_" + strings.Repeat("a", 40)}}
	for _, c := range []call{byToken, byKey} {
		if res := f.do(c); res.err != nil {
			t.Fatal(res.err)
		}
	}
	f.do(refusedKey)

	f.core.setStatus(http.StatusServiceUnavailable)
	f.clock.Advance(31 * time.Second) // past key_cache_ttl
	hits := f.core.keyHits.Load() + f.core.tokHits.Load()
	for i := range 20 {
		if res := f.do(byToken); res.err != nil {
			t.Fatalf("token, request %d with core down: %d %v", i, res.status, res.err)
		}
		if res := f.do(byKey); res.err != nil {
			t.Fatalf("API key, request %d with core down: %d %v", i, res.status, res.err)
		}
	}
	if res := f.do(refusedKey); res.status != 401 {
		t.Errorf("a key refused before the outage: %d %v; want still 401", res.status, res.err)
	}
	if n := f.core.keyHits.Load() + f.core.tokHits.Load() - hits; n > 2 {
		t.Errorf("core asked %d times for 41 requests within one back-off; want at most 2", n)
	}

	f.clock.Advance(10 * time.Minute) // past stale_if_error too (and the token's life)
	if res := f.do(byKey); res.status != 503 {
		t.Errorf("past stale_if_error: %d %v; want 503", res.status, res.err)
	}
	f.core.setStatus(0)
	f.clock.Advance(2 * time.Second) // past the back-off
	if res := f.do(byKey); res.err != nil {
		t.Errorf("core back: %d %v", res.status, res.err)
	}
}
