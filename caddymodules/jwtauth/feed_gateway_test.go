package jwtauth_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/core/coretest"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/registrytest"
)

// TestGatewayFollowsCoreFeed runs a real core, a registry, a plugin and
// the gateway (the shipped Caddyfile) with a fault proxy between the
// gateway and core, and performs what core's change feed defends against:
// a credential or a right core has taken back, still honoured by the
// gateway from its caches (30s) or, for an access token, offline until it
// expires (15m). Each step waits at most a few seconds, far below both,
// so each fails without the feed.
func TestGatewayFollowsCoreFeed(t *testing.T) {
	const feedToken = "gateway-feed-test-token-0123456789"
	const regToken = "feed-test-registry-token-0123"
	coreHS := coretest.Start(t, coretest.Options{Env: map[string]string{"PLUGBOARD_CORE_FEED_TOKEN": feedToken}})
	proxy := testenv.NewFaultProxy(t, coreHS.Listener.Addr().String())
	reg := registrytest.Start(t, registrytest.Options{Token: regToken})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(backend.Close)
	host, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if _, err := reg.Client.Register(context.Background(), &registry.Instance{
		Name: "orders", Host: host, Port: port, BasePath: "/v1",
		Endpoints: []registry.Endpoint{
			{Path: "/items/{id}", Method: "GET"},
			{Path: "/admin", Method: "POST", RequiredRoles: []string{"tenant_admin"}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	site, adminAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	for k, v := range map[string]string{
		"PLUGBOARD_GATEWAY_SITE": "http://" + site, "PLUGBOARD_GATEWAY_ADMIN": adminAddr,
		"PLUGBOARD_REGISTRY_URL": reg.URL, "PLUGBOARD_REGISTRY_TOKEN": regToken,
		"PLUGBOARD_CORE_URL": "http://" + proxy.Addr(), "PLUGBOARD_CORE_FEED_TOKEN": feedToken,
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": "feed-test-signing-secret-0123456789", "PLUGBOARD_WEB_ROOT": t.TempDir(),
		"XDG_DATA_HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir(), "PLUGBOARD_DATA_DIR": t.TempDir(),
	} {
		t.Setenv(k, v)
	}
	gatewaytest.LoadCaddyfile(t, "../../Caddyfile", nil)

	core := coreHS.URL // the test's own calls to core do not cross the proxy
	admin := coretest.Login(t, core, "admin", coretest.AdminPassword)
	call := func(method, url, token string, body any) testenv.Response {
		t.Helper()
		var header []string
		if token != "" {
			header = []string{"Authorization", "Bearer " + token}
		}
		return testenv.Do(t, method, url, body, header...)
	}
	must := func(r testenv.Response) testenv.Response {
		t.Helper()
		if r.Status/100 != 2 {
			t.Fatalf("core answered %d %s", r.Status, r.Body)
		}
		return r
	}
	idOf := func(r testenv.Response) string {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		r.Decode(t, &v)
		return v.ID
	}
	tenant := func(name string, services ...string) string {
		return idOf(must(call("POST", core+"/api/tenants", admin, map[string]any{"name": name, "enabled_services": services})))
	}
	user := func(tenantID, name, role string) string {
		return idOf(must(call("POST", core+"/api/users", admin, map[string]any{
			"tenant_id": tenantID, "username": name, "password": "password-" + name, "role": role})))
	}
	login := func(tenantName, name string) string {
		t.Helper()
		var v struct {
			AccessToken string `json:"access_token"`
		}
		must(call("POST", core+"/api/auth/login", "", map[string]string{"username": name, "password": "password-" + name, "tenant": tenantName})).Decode(t, &v)
		return v.AccessToken
	}
	gw := func(method, path string, header ...string) int {
		t.Helper()
		return testenv.Do(t, method, "http://"+site+"/api/orders"+path, nil, header...).Status
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	// metric reads a gauge from Caddy's admin /metrics.
	metric := func(name string) float64 {
		t.Helper()
		body := string(testenv.Do(t, "GET", "http://"+adminAddr+"/metrics", nil).Body)
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				return f
			}
		}
		t.Fatalf("no %s in /metrics", name)
		return 0
	}
	becomes := func(t *testing.T, want int, what string, method, path string, header ...string) {
		t.Helper()
		testenv.Eventually(t, 5*time.Second, func() bool { return gw(method, path, header...) == want }, "%s: never %d", what, want)
	}

	acme := tenant("acme", "orders")
	user(acme, "alice", "user")
	tokAlice := login("acme", "alice")
	becomes(t, 200, "the gateway never let a valid token through", "GET", "/items/1", bearer(tokAlice)...)

	t.Run("Logout", func(t *testing.T) {
		tok := login("acme", "alice")
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("before logout: %d", s)
		}
		must(call("POST", core+"/api/auth/logout", tok, nil))
		becomes(t, 401, "logged-out token", "GET", "/items/1", bearer(tok)...)
	})
	t.Run("UserDeactivated", func(t *testing.T) {
		id := user(acme, "carol", "user")
		tok := login("acme", "carol")
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("before: %d", s)
		}
		must(call("PATCH", core+"/api/users/"+id, admin, map[string]any{"is_active": false}))
		becomes(t, 401, "deactivated user", "GET", "/items/1", bearer(tok)...)
	})
	t.Run("TenantAdminDemoted", func(t *testing.T) {
		id := user(acme, "bob", "tenant_admin")
		tok := login("acme", "bob")
		if s := gw("POST", "/admin", bearer(tok)...); s != 200 {
			t.Fatalf("before: %d", s)
		}
		must(call("PATCH", core+"/api/users/"+id, admin, map[string]any{"role": "user"}))
		becomes(t, 401, "demoted tenant_admin's old token", "POST", "/admin", bearer(tok)...)
		// A token issued in the second of the demotion is refused too (iat
		// is whole seconds): the next second's token is a plain user's.
		testenv.Eventually(t, 5*time.Second, func() bool { return gw("POST", "/admin", bearer(login("acme", "bob"))...) == 403 },
			"demoted tenant_admin's new token never got 403")
	})
	t.Run("SuperAdminDemoted", func(t *testing.T) {
		// A tenant that has not enabled orders: only a super_admin passes.
		other := tenant("other")
		id := user(other, "sam", "super_admin")
		tok := login("other", "sam")
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("super_admin before: %d", s)
		}
		must(call("PATCH", core+"/api/users/"+id, admin, map[string]any{"role": "user"}))
		becomes(t, 401, "demoted super_admin's old token", "GET", "/items/1", bearer(tok)...)
		testenv.Eventually(t, 5*time.Second, func() bool { return gw("GET", "/items/1", bearer(login("other", "sam"))...) == 403 },
			"demoted super_admin's new token never got 403 (tenant enablement)")
	})
	t.Run("TenantDeactivated", func(t *testing.T) {
		id := tenant("gone", "orders")
		user(id, "dave", "user")
		tok := login("gone", "dave")
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("before: %d", s)
		}
		must(call("PATCH", core+"/api/tenants/"+id, admin, map[string]any{"is_active": false}))
		becomes(t, 401, "deactivated tenant", "GET", "/items/1", bearer(tok)...)
	})
	t.Run("ServiceDisabledAndEnabled", func(t *testing.T) {
		tok := login("acme", "alice")
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("before: %d", s)
		}
		must(call("DELETE", core+"/api/tenants/"+acme+"/services/orders", admin, nil))
		becomes(t, 403, "disabled service", "GET", "/items/1", bearer(tok)...)
		must(call("PUT", core+"/api/tenants/"+acme+"/services/orders", admin, nil))
		becomes(t, 200, "enabled again", "GET", "/items/1", bearer(tok)...)
	})
	t.Run("APIKeyRevoked", func(t *testing.T) {
		var k struct {
			APIKey struct {
				ID string `json:"id"`
			} `json:"api_key"`
			Key string `json:"key"`
		}
		must(call("POST", core+"/api/api-keys", login("acme", "alice"), map[string]any{"name": "feed"})).Decode(t, &k)
		if s := gw("GET", "/items/1", "X-API-Key", k.Key); s != 200 {
			t.Fatalf("before: %d", s)
		}
		must(call("DELETE", core+"/api/api-keys/"+k.APIKey.ID, admin, nil))
		becomes(t, 401, "revoked API key", "GET", "/items/1", "X-API-Key", k.Key)
	})
	t.Run("FeedCut", func(t *testing.T) {
		id := user(acme, "frank", "user")
		tok := login("acme", "frank")
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("before: %d", s)
		}
		if rev := metric("plugboard_gateway_core_feed_revision"); rev <= 0 {
			t.Errorf("feed revision %v before the cut", rev)
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return metric("plugboard_gateway_core_feed_staleness_seconds") == 0 }, "the feed never looked live")
		proxy.Down() // core is unreachable from the gateway: feed, JWKS and verify
		testenv.Eventually(t, 10*time.Second, func() bool { return metric("plugboard_gateway_core_feed_staleness_seconds") > 0 },
			"staleness never rose during the cut")
		// Decisions keep coming from the caches (within feed_max_staleness).
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("feed cut: a cached token got %d", s)
		}
		if s := gw("GET", "/items/1", bearer(tokAlice)...); s != 200 {
			t.Fatalf("feed cut: another cached token got %d", s)
		}
		// A revocation made while the gateway cannot hear it…
		must(call("PATCH", core+"/api/users/"+id, admin, map[string]any{"is_active": false}))
		if s := gw("GET", "/items/1", bearer(tok)...); s != 200 {
			t.Fatalf("feed cut: %d (the gateway cannot know yet)", s)
		}
		// …is enforced once the feed is back (resumed after the last revision).
		proxy.Up()
		testenv.Eventually(t, 10*time.Second, func() bool { return metric("plugboard_gateway_core_feed_staleness_seconds") == 0 },
			"staleness never went back to 0")
		becomes(t, 401, "revocation made during the cut, after reconnect", "GET", "/items/1", bearer(tok)...)
		if s := gw("GET", "/items/1", bearer(tokAlice)...); s != 200 {
			t.Errorf("after reconnect, another user's token: %d", s)
		}
	})
}
