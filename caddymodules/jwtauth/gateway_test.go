package jwtauth_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/golang-jwt/jwt/v5"

	_ "github.com/plugboard/plugboard/caddymodules"
	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/caddymodules/jwtauth"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/registrytest"
)

// fakeCore serves key's JWKS and verifies every API key as tenant t1's,
// with services enabled.
func fakeCore(t *testing.T, key *auth.Key, services ...string) *httptest.Server {
	return fakeCoreWithKeys(t, key, nil, services...)
}

// fakeCoreWithKeys is fakeCore that also answers the API keys of apiKeys
// (key → core's answer), and refuses other keys.
func fakeCoreWithKeys(t *testing.T, key *auth.Key, apiKeys map[string]map[string]any, services ...string) *httptest.Server {
	core := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/auth/jwks.json":
			json.NewEncoder(w).Encode(auth.JWKS{Keys: []auth.JWK{key.JWK()}})
		case "/api/auth/verify":
			if k := r.Header.Get("X-Api-Key"); apiKeys != nil && k != "" {
				if ans, ok := apiKeys[k]; ok {
					json.NewEncoder(w).Encode(ans)
				} else {
					http.Error(w, "unknown key", http.StatusUnauthorized)
				}
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"tenant_id": "t1", "enabled_services": services})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(core.Close)
	return core
}

// TestGateway runs a registry, a fake core, a service and the gateway
// (testdata/gateway.caddyfile) in process, and checks jwt_auth between
// plugboard_route and reverse_proxy, with errors rendered by
// plugboard_problem.
func TestGateway(t *testing.T) {
	const secret = "gateway-test-signing-secret-0123456789"
	key, err := auth.GenerateKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	core := fakeCore(t, key, "orders")

	var last atomic.Pointer[http.Request]
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(r.Clone(context.Background()))
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)

	const regToken = "jwtauth-test-token-0123"
	t.Setenv("PLUGBOARD_REGISTRY_TOKEN", regToken) // the gateway reads the registry with it
	reg := registrytest.Start(t, registrytest.Options{Token: regToken})
	regURL, regClient := reg.URL, reg.Client
	host, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if _, err := regClient.Register(context.Background(), &registry.Instance{
		Name: "orders", Host: host, Port: port, BasePath: "/v1",
		Endpoints: []registry.Endpoint{
			{Path: "/items/{id}", Method: "GET"},
			{Path: "/health", Method: "GET", IsPublic: true},
			{Path: "/admin", Method: "POST", RequiredRoles: []string{"tenant_admin"}},
		},
	}); err != nil {
		t.Fatal(err)
	}

	gateway := "http://" + testenv.FreeAddr(t)
	accessLog := filepath.Join(t.TempDir(), "access.log")
	t.Setenv("PLUGBOARD_GATEWAY_ACCESS_LOG", "file "+accessLog)
	startGateway(t, "testdata/gateway.caddyfile", gateway, regURL, core.URL, secret)

	token := func(roles ...string) string { return signToken(t, key, roles...) }
	get := func(method, path string, header http.Header) (testenv.Response, string) {
		t.Helper()
		req := testenv.NewRequest(t, method, gateway+path, nil)
		maps.Copy(req.Header, header)
		resp := testenv.Send(t, http.DefaultClient, req)
		return resp, string(resp.Body)
	}

	// Wait until the route and the JWKS are ready.
	testenv.Eventually(t, 5*time.Second, func() bool {
		resp, _ := get("GET", "/api/orders/items/1", http.Header{"Authorization": {"Bearer " + token("user")}})
		return resp.Status == 200
	}, "the gateway never let a valid token through")

	t.Run("NoCredentialsIs401Problem", func(t *testing.T) {
		resp, body := get("GET", "/api/orders/items/1", nil)
		if resp.Status != 401 || resp.Header.Get("Content-Type") != "application/problem+json" ||
			resp.Header.Get("WWW-Authenticate") != `Bearer realm="plugboard"` || !strings.Contains(body, "Credentials are required") {
			t.Fatalf("%d %v %s", resp.Status, resp.Header, body)
		}
	})
	t.Run("BadTokenIs401Problem", func(t *testing.T) {
		resp, body := get("GET", "/api/orders/items/1", http.Header{"Authorization": {"Bearer nope"}})
		if resp.Status != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="plugboard", error="invalid_token"` ||
			!strings.Contains(body, `"type":"/problems/unauthorized"`) {
			t.Fatalf("%d %v %s", resp.Status, resp.Header, body)
		}
	})
	t.Run("MissingRoleIs403Problem", func(t *testing.T) {
		resp, body := get("POST", "/api/orders/admin", http.Header{"Authorization": {"Bearer " + token("user")}})
		if resp.Status != 403 || !strings.Contains(body, `"type":"/problems/forbidden"`) || !strings.Contains(body, "tenant_admin") {
			t.Fatalf("%d %s", resp.Status, body)
		}
	})
	t.Run("PublicEndpointNeedsNoCredentials", func(t *testing.T) {
		if resp, body := get("GET", "/api/orders/health", nil); resp.Status != 200 || body != "ok /v1/health" {
			t.Fatalf("%d %s", resp.Status, body)
		}
		if h := last.Load().Header; h.Get(jwtauth.HeaderUserID) != "" || h.Get(jwtauth.HeaderSignature) != "" {
			t.Fatalf("anonymous request carries identity: %v", h)
		}
	})
	t.Run("IdentityHeadersReachTheService", func(t *testing.T) {
		resp, body := get("GET", "/api/orders/items/7", http.Header{
			"X-Request-Id":        {"identity-1"},
			"Authorization":       {"Bearer " + token("user", "ops")},
			"X-Plugboard-User-Id": {"spoofed"},
			"X-Plugboard-Extra":   {"spoofed"},
		})
		if resp.Status != 200 || body != "ok /v1/items/7" {
			t.Fatalf("%d %s", resp.Status, body)
		}
		r := last.Load()
		h := r.Header
		if h.Get(jwtauth.HeaderUserID) != "u1" || h.Get(jwtauth.HeaderTenantID) != "t1" || h.Get(jwtauth.HeaderRoles) != "user,ops" ||
			h.Get("X-Plugboard-Extra") != "" || h.Get("X-Plugboard-Service") != "orders" {
			t.Fatalf("upstream headers %v", h)
		}
		// The signature covers the path the service receives, so that it
		// can check it against its own request.
		// It is made with the key of orders (derived from the master
		// secret) and covers the service's name: neither the master nor
		// another service's key verifies it, nor orders' key for another
		// service.
		check := func(key []byte, service string) bool {
			return jwtauth.CheckSignature([][]byte{key}, h.Get(jwtauth.HeaderSignature), service, r.Method, r.URL.RequestURI(),
				h.Get(jwtauth.HeaderUserID), h.Get(jwtauth.HeaderTenantID), h.Get(jwtauth.HeaderRoles), h.Get(jwtauth.HeaderScopes),
				h.Get(jwtauth.HeaderTimestamp), time.Now(), time.Minute)
		}
		ordersKey := []byte(jwtauth.ServiceKey([]byte(secret), "orders"))
		if !check(ordersKey, "orders") {
			t.Fatalf("signature does not verify with the key of orders: %v", h)
		}
		if check([]byte(secret), "orders") || check([]byte(jwtauth.ServiceKey([]byte(secret), "billing")), "billing") || check(ordersKey, "billing") {
			t.Fatalf("signature verifies with the master secret, the key of billing, or for billing: %v", h)
		}
		// The access log (unbuffered here: flush_interval 0) names who it was.
		raw, err := os.ReadFile(accessLog)
		if err != nil {
			t.Fatal(err)
		}
		var line map[string]any
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, `"request_id":"identity-1"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatal(err)
				}
			}
		}
		if line["user_id"] != "u1" || line["tenant_id"] != "t1" || line["service"] != "orders" || line["status"] != 200.0 {
			t.Fatalf("access log line %v in\n%s", line, raw)
		}
	})
}

// startGateway points the gateway's environment at gateway (its site),
// the registry, core and an identity-signing secret, and loads caddyfile.
func startGateway(t *testing.T, caddyfile, gateway, registryURL, coreURL, secret string) {
	t.Helper()
	for k, v := range map[string]string{
		"PLUGBOARD_GATEWAY_SITE":           gateway,
		"PLUGBOARD_REGISTRY_URL":           registryURL,
		"PLUGBOARD_CORE_URL":               coreURL,
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": secret,
		"XDG_DATA_HOME":                    t.TempDir(),
		"XDG_CONFIG_HOME":                  t.TempDir(),
	} {
		t.Setenv(k, v)
	}
	gatewaytest.LoadCaddyfile(t, caddyfile, nil)
}

// signToken signs an access token for user u1 of tenant t1 with roles.
func signToken(t *testing.T, key *auth.Key, roles ...string) string {
	t.Helper()
	tok, _, err := auth.Issuer{Issuer: "plugboard", Audience: "plugboard"}.Sign(key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "u1"}, TenantID: "t1", Roles: roles,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
