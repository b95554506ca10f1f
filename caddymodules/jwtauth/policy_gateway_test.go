package jwtauth_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
)

// TestGatewayEndpointPolicy performs the attacks of issue 11 findings 4
// and 7 through a real gateway (testdata/policy.caddyfile) in front of a
// plugin registered, as S in the issue, with base_path /v1 and POST /admin
// requiring tenant_admin:
//   - a plain user's POST /ADMIN, /Admin, /admin.json and DELETE /Items/1
//     reached the plugin, whose case-insensitive or suffix-matching router
//     ran the protected action; now 403;
//   - with undeclared_paths "deny" an unknown path is 404;
//   - the plugin received the user's bearer token; now only the service the
//     operator names in forward_authorization does.
//
// It also performs issue 15 finding 21 (KeyRolesNeedCoreAdmin).
//
// The registry is faked (its list answers JSON written here), so that the
// instances carry undeclared_paths whatever the registry stores.
func TestGatewayEndpointPolicy(t *testing.T) {
	key, err := auth.GenerateKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Issue 15 finding 21: a tenant_admin's key scoped only x:read, and
	// the same user's key that also holds core:admin.
	readKey, fullKey := newAPIKey(t), newAPIKey(t)
	keyAnswer := func(scopes ...string) map[string]any {
		return map[string]any{"user_id": "u5", "tenant_id": "t1", "api_key_id": "k-" + scopes[len(scopes)-1], "roles": []string{"tenant_admin"},
			"scopes": scopes, "enabled_services": []string{"orders", "strict", "billing"}}
	}
	core := fakeCoreWithKeys(t, key, map[string]map[string]any{
		readKey: keyAnswer("x:read"), fullKey: keyAnswer("x:read", "core:admin"),
	}, "orders", "strict", "billing")

	var last atomic.Pointer[http.Request]
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(r.Clone(context.Background()))
		io.WriteString(w, "ok "+r.Method+" "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	host, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	admin := []string{"tenant_admin"}
	endpoints := []registry.Endpoint{
		{Path: "/items/{id}", Method: "GET"},
		{Path: "/items/{id}", Method: "DELETE", RequiredRoles: admin},
		{Path: "/admin", Method: "POST", RequiredRoles: admin},
		{Path: "/health", Method: "GET", IsPublic: true},
	}
	now := time.Now().UTC()
	instances := []*registry.Instance{
		{ID: "i-orders", Name: "orders", Host: host, Port: port, BasePath: "/v1", IsActive: true, Endpoints: endpoints, UpdatedAt: now},
		{ID: "i-strict", Name: "strict", Host: host, Port: port, BasePath: "/v1", IsActive: true, Endpoints: endpoints, UpdatedAt: now,
			UndeclaredPaths: registry.UndeclaredDeny},
		{ID: "i-billing", Name: "billing", Host: host, Port: port, BasePath: "/v1", IsActive: true, Endpoints: endpoints, UpdatedAt: now},
	}
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/registry/services":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Registry-Revision", "1")
			json.NewEncoder(w).Encode(instances)
		case "/api/registry/watch": // a feed with no news, until the gateway stops
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { reg.CloseClientConnections(); reg.Close() })

	gateway := "http://" + testenv.FreeAddr(t)
	startGateway(t, "testdata/policy.caddyfile", gateway, reg.URL, core.URL, "policy-test-signing-secret-0123456789")

	token := func(roles ...string) string { return signToken(t, key, roles...) }
	user, tenantAdmin := token("user"), token("tenant_admin")
	send := func(method, path string, header http.Header) (int, string) {
		t.Helper()
		last.Store(nil)
		req := testenv.NewRequest(t, method, gateway+path, nil)
		maps.Copy(req.Header, header)
		resp := testenv.Send(t, http.DefaultClient, req)
		return resp.Status, string(resp.Body)
	}
	as := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	testenv.Eventually(t, 5*time.Second, func() bool {
		status, _ := send("GET", "/api/billing/items/1", as(user))
		return status == 200
	}, "the gateway never let a valid token through")

	for _, tc := range []struct {
		method, path string
		header       http.Header
		status       int
		contains     string // in the body
	}{
		// Finding 4: the protected action, however the path is spelled.
		{"POST", "/api/orders/admin", as(user), 403, `"type":"/problems/forbidden"`},
		{"POST", "/api/orders/ADMIN", as(user), 403, "tenant_admin"},
		{"POST", "/api/orders/Admin", as(user), 403, "tenant_admin"},
		{"POST", "/api/orders/admin.json", as(user), 403, "tenant_admin"},
		{"POST", "/api/orders/admin/", as(user), 403, "tenant_admin"},
		{"POST", "/api/orders/%41dmin", as(user), 403, "tenant_admin"},
		{"DELETE", "/api/orders/Items/1", as(user), 403, "tenant_admin"},
		{"PUT", "/api/orders/admin", as(user), 403, "tenant_admin"},
		{"POST", "/api/orders/ADMIN", as(tenantAdmin), 200, "ok POST /v1/ADMIN"},
		{"DELETE", "/api/orders/Items/1", as(tenantAdmin), 200, "ok DELETE /v1/Items/1"},
		{"GET", "/api/orders/unknown", as(user), 200, "ok GET /v1/unknown"},
		// undeclared_paths deny.
		{"GET", "/api/strict/unknown", as(user), 404, `"type":"/problems/not_found"`},
		{"GET", "/api/strict/unknown", as(token("super_admin")), 404, "refuses undeclared requests"},
		{"PUT", "/api/strict/admin", as(tenantAdmin), 404, `declares no endpoint for PUT /admin`},
		{"GET", "/api/strict/unknown", nil, 401, "Credentials are required"},
		{"GET", "/api/strict/items/1", as(user), 200, "ok GET /v1/items/1"},
		{"POST", "/api/strict/ADMIN", as(user), 403, "tenant_admin"},
		{"GET", "/api/strict/health", nil, 200, "ok GET /v1/health"},
		// jwt_auth reads credentials from headers only, never a cookie.
		{"GET", "/api/orders/items/1", http.Header{"Cookie": {"access_token=" + user + "; token=" + user}}, 401, "Credentials are required"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			status, body := send(tc.method, tc.path, tc.header)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %s, want %d with %q", status, body, tc.status, tc.contains)
			}
			if reached := last.Load() != nil; reached != (tc.status == 200) {
				t.Fatalf("the plugin was reached: %v", reached)
			}
		})
	}

	// Issue 15 finding 21: a key acts with its user's roles only with
	// core:admin, as in core's API; the plugin's X-Plugboard-Roles says so.
	t.Run("KeyRolesNeedCoreAdmin", func(t *testing.T) {
		withKey := func(k string) http.Header { return http.Header{"X-Api-Key": {k}} }
		if status, body := send("POST", "/api/orders/admin", withKey(readKey)); status != 403 || !strings.Contains(body, "tenant_admin") {
			t.Fatalf("x:read key: %d %s, want 403", status, body)
		}
		if last.Load() != nil {
			t.Fatal("the plugin was reached")
		}
		for _, tc := range []struct{ key, path, roles, scopes string }{
			{readKey, "/api/orders/items/1", "", "x:read"},
			{fullKey, "/api/orders/admin", "tenant_admin", "x:read,core:admin"},
		} {
			method := map[bool]string{true: "POST", false: "GET"}[strings.HasSuffix(tc.path, "admin")]
			if status, body := send(method, tc.path, withKey(tc.key)); status != 200 {
				t.Fatalf("%s %s: %d %s", method, tc.path, status, body)
			}
			h := last.Load().Header
			if h.Get("X-Plugboard-Roles") != tc.roles || h.Get("X-Plugboard-Scopes") != tc.scopes {
				t.Fatalf("%s: the plugin saw roles %q scopes %q, want %q %q", tc.path, h.Get("X-Plugboard-Roles"), h.Get("X-Plugboard-Scopes"), tc.roles, tc.scopes)
			}
		}
	})

	// Finding 7: the user's token stays at the gateway, unless the operator
	// names the service.
	t.Run("AuthorizationNotForwarded", func(t *testing.T) {
		super := token("super_admin")
		for _, path := range []string{"/api/orders/items/1", "/api/orders/health", "/api/strict/items/1"} {
			if status, body := send("GET", path, as(super)); status != 200 {
				t.Fatalf("%s: %d %s", path, status, body)
			}
			if a, ok := last.Load().Header["Authorization"]; ok {
				t.Fatalf("%s: the plugin received Authorization %q", path, a)
			}
		}
	})
	t.Run("AuthorizationForwardedToNamedService", func(t *testing.T) {
		if status, body := send("GET", "/api/billing/items/1", as(user)); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		if got := last.Load().Header.Get("Authorization"); got != "Bearer "+user {
			t.Fatalf("billing received Authorization %q", got)
		}
	})
}

// newAPIKey returns a well-formed API key.
func newAPIKey(t *testing.T) string {
	t.Helper()
	k, _, _, err := auth.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
