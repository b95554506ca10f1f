package cored_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/testenv"
)

func TestBootstrapPrintsAGeneratedPasswordOnce(t *testing.T) {
	t.Parallel()
	env := backends[0].env(t)
	s := start(t, env, "PLUGBOARD_ADMIN_PASSWORD", "")
	out := s.stdout.String()
	i := strings.Index(out, "with password: ")
	if i < 0 {
		t.Fatalf("no generated password printed: %q", out)
	}
	password := strings.Fields(out[i+len("with password: "):])[0]
	s.login("default", "admin", password)
	again := start(t, env, "PLUGBOARD_ADMIN_PASSWORD", "")
	if strings.Contains(again.stdout.String(), "password") {
		t.Fatalf("a second start printed a password again: %q", again.stdout.String())
	}
}

func TestLoginRefreshLogout(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		tk := s.login("default", "admin", adminPassword)
		if tk.TokenType != "bearer" || tk.ExpiresIn != 1800 || tk.AccessToken == "" || !strings.HasPrefix(tk.RefreshToken, "pbrt_") {
			t.Fatalf("tokens %+v", tk)
		}
		// The OAuth2 password form works too, with the default tenant.
		r := s.do("POST", "/api/auth/login", "", url.Values{"username": {"admin"}, "password": {adminPassword}, "grant_type": {"password"}})
		if r.Status != 200 {
			t.Fatalf("form login: %d %s", r.Status, r.Body)
		}
		// curl -d sends JSON with a form Content-Type: still JSON.
		if r := testenv.Do(t, "POST", s.URL+"/api/auth/login", `{"username":"admin","password":"`+adminPassword+`"}`,
			"Content-Type", "application/x-www-form-urlencoded"); r.Status != 200 {
			t.Fatalf("curl-style JSON login: %d %s", r.Status, r.Body)
		}
		var me struct {
			User struct {
				Username string `json:"username"`
				Role     string `json:"role"`
			} `json:"user"`
		}
		s.do("GET", "/api/auth/me", tk.AccessToken, nil).Decode(t, &me)
		if me.User.Username != "admin" || me.User.Role != "super_admin" {
			t.Fatalf("me = %+v", me)
		}
		for _, tc := range []struct {
			name string
			body any
			want int
		}{
			{"wrong password", map[string]string{"username": "admin", "password": "nope-nope-1"}, 401},
			{"unknown user", map[string]string{"username": "ghost", "password": "nope-nope-1"}, 401},
			{"unknown tenant", map[string]string{"tenant": "nope", "username": "admin", "password": adminPassword}, 401},
			{"missing password", map[string]string{"username": "admin"}, 422},
			{"malformed", `{"username":`, 400},
		} {
			if r := s.do("POST", "/api/auth/login", "", tc.body); r.Status != tc.want {
				t.Errorf("%s: %d, want %d", tc.name, r.Status, tc.want)
			} else {
				r.Problem(t)
			}
		}

		// Refresh rotates: the new pair works, the old refresh token does not.
		r = s.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken})
		var next tokens
		r.Decode(t, &next)
		if r.Status != 200 || next.RefreshToken == tk.RefreshToken {
			t.Fatalf("refresh: %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/api/auth/me", next.AccessToken, nil); r.Status != 200 {
			t.Fatalf("new access token: %d", r.Status)
		}
		// Reusing the rotated token is theft: the whole session is revoked.
		if r := s.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}); r.Status != 401 {
			t.Fatalf("reused refresh token: %d", r.Status)
		}
		if r := s.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": next.RefreshToken}); r.Status != 401 {
			t.Fatalf("the session survived a reuse: %d", r.Status)
		}
		// …and so are its access tokens (issue 15 finding 13).
		if r := s.do("GET", "/api/auth/me", next.AccessToken, nil); r.Status != 401 {
			t.Fatalf("an access token of a session ended by reuse: %d", r.Status)
		}

		// Logout ends the session.
		fresh := s.login("default", "admin", adminPassword)
		if r := s.do("GET", "/api/auth/me", fresh.AccessToken, nil); r.Status != 200 {
			t.Fatalf("access token before logout: %d", r.Status)
		}
		if r := s.do("POST", "/api/auth/logout", "", map[string]string{"refresh_token": fresh.RefreshToken}); r.Status != 204 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		if r := s.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": fresh.RefreshToken}); r.Status != 401 {
			t.Fatalf("refresh after logout: %d", r.Status)
		}
		// The old access token ends with its session (finding 13).
		if r := s.do("GET", "/api/auth/me", fresh.AccessToken, nil); r.Status != 401 {
			t.Fatalf("access token after logout: %d, want 401", r.Status)
		}
		for _, bad := range []string{"", "garbage", tk.AccessToken + "x"} {
			r := s.do("GET", "/api/auth/me", bad, nil)
			if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("me with %.10q: %d", bad, r.Status)
			}
		}
		var jwks struct {
			Keys []struct{ Kid, Kty, Crv, Alg string } `json:"keys"`
		}
		s.do("GET", "/api/auth/jwks.json", "", nil).Decode(t, &jwks)
		if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "OKP" || jwks.Keys[0].Alg != "EdDSA" || jwks.Keys[0].Kid == "" {
			t.Fatalf("jwks %+v", jwks)
		}
	})
}

// loginFrom logs in as a client at addr behind the local gateway
// (X-Forwarded-For, which core believes from loopback).
func (c *coreServer) loginFrom(addr, user, password string) response {
	c.t.Helper()
	return testenv.Do(c.t, "POST", c.URL+"/api/auth/login", map[string]string{"username": user, "password": password},
		"X-Forwarded-For", addr)
}

// TestLoginLockoutAttack performs issue 11 finding 5: an attacker who
// knows the super admin's name fails logins from addresses of their own.
// Their address is slowed down (429 with Retry-After); the admin, from the
// address they log in from, is never locked out — not after 5 failures,
// not after 55, not even after the username-wide lock (100), which refuses
// only addresses the admin has not used.
func TestLoginLockoutAttack(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		const home, attacker = "192.0.2.10", "203.0.113.66"
		wrong := func(i int) string { return fmt.Sprintf("wrong-%d-pass", i) }
		if r := s.loginFrom(home, "admin", adminPassword); r.Status != 200 {
			t.Fatalf("the admin's first login: %d %s", r.Status, r.Body)
		}
		for i := range 5 {
			if r := s.loginFrom(attacker, "admin", wrong(i)); r.Status != 401 {
				t.Fatalf("failure %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		// The pair is now blocked for 1 s, then 2 s …: the attacker meets a
		// 429 (retrying, in case a slow machine let a block run out).
		refused := false
		for i := 5; i < 10 && !refused; i++ {
			r := s.loginFrom(attacker, "admin", wrong(i))
			switch r.Status {
			case http.StatusTooManyRequests:
				refused = true
				if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 900 {
					t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
				}
				if p := r.Problem(t); p.Type != "/problems/rate_limited" {
					t.Fatalf("problem %+v", p)
				}
			case http.StatusUnauthorized:
			default:
				t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		if !refused {
			t.Fatal("the attacker's address was never throttled")
		}
		if r := s.loginFrom(home, "admin", adminPassword); r.Status != 200 {
			t.Fatalf("after 5 failures elsewhere the admin got %d %s", r.Status, r.Body)
		}
		for i := range 50 {
			if r := s.loginFrom(fmt.Sprintf("198.51.100.%d", i+1), "admin", wrong(i)); r.Status != 401 {
				t.Fatalf("failure from address %d: %d", i+1, r.Status)
			}
		}
		if r := s.loginFrom(home, "admin", adminPassword); r.Status != 200 {
			t.Fatalf("after 55 failures elsewhere the admin got %d %s", r.Status, r.Body)
		}
		if r := s.loginFrom("192.0.2.20", "admin", adminPassword); r.Status != 200 {
			t.Fatalf("below the username-wide limit a new address got %d", r.Status)
		}
		for i := range 50 {
			s.loginFrom(fmt.Sprintf("198.51.101.%d", i+1), "admin", wrong(i))
		}
		if r := s.loginFrom("192.0.2.30", "admin", adminPassword); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("past 100 failures a new address got %d (Retry-After %q), want 429", r.Status, r.Header.Get("Retry-After"))
		}
		for _, known := range []string{home, "192.0.2.20"} {
			if r := s.loginFrom(known, "admin", adminPassword); r.Status != 200 {
				t.Fatalf("past 100 failures the admin from %s got %d %s", known, r.Status, r.Body)
			}
		}
	})
}

// TestThrottlingByClientBehindTheGateway fails logins from one client
// address (X-Forwarded-For, as the local gateway sends it) until that
// address is refused, while another client through the same gateway can
// still log in.
func TestThrottlingByClientBehindTheGateway(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	login := func(client, user, password string) int {
		body := `{"username":"` + user + `","password":"` + password + `"}`
		return testenv.Do(t, "POST", s.URL+"/api/auth/login", body, "X-Forwarded-For", client).Status
	}
	for i := range 20 { // many users, so that the per-user limit is not what trips
		if c := login("198.51.100.1", fmt.Sprintf("ghost-%d", i), "wrong-password"); c != 401 {
			t.Fatalf("failure %d: %d", i, c)
		}
	}
	if c := login("198.51.100.1", "admin", adminPassword); c != http.StatusTooManyRequests {
		t.Fatalf("the throttled address logged in: %d", c)
	}
	if c := login("198.51.100.2", "admin", adminPassword); c != 200 {
		t.Fatalf("another client behind the same gateway was throttled too: %d", c)
	}
	// A client cannot dodge the limit by forging X-Forwarded-For before the gateway.
	if c := login("6.6.6.6, 198.51.100.1", "admin", adminPassword); c != http.StatusTooManyRequests {
		t.Fatalf("a forged hop before the gateway escaped the throttle: %d", c)
	}
}

// world is two tenants with an admin and a user each, set up by the super admin.
type world struct {
	super, aAdmin, aUser, bAdmin, bUser                    string // access tokens
	tenantA, tenantB, aAdminID, aUserID, bAdminID, bUserID string
	bKeyID, bKey                                           string
}

func setup(t *testing.T, s *coreServer) world {
	var w world
	w.super = s.login("default", "admin", adminPassword).AccessToken
	w.tenantA = s.mustCreate("/api/tenants", w.super, map[string]any{"name": "acme", "enabled_services": []string{"orders"}})
	w.tenantB = s.mustCreate("/api/tenants", w.super, map[string]any{"name": "globex"})
	mk := func(tenant, name, role string) string {
		return s.mustCreate("/api/users", w.super, map[string]any{"tenant_id": tenant, "username": name, "password": "password-" + name, "role": role, "email": name + "@example.com"})
	}
	w.aAdminID = mk(w.tenantA, "alice", "tenant_admin")
	w.aUserID = mk(w.tenantA, "andy", "user")
	w.bAdminID = mk(w.tenantB, "bob", "tenant_admin")
	w.bUserID = mk(w.tenantB, "bill", "user")
	w.aAdmin = s.login("acme", "alice", "password-alice").AccessToken
	w.aUser = s.login("acme", "andy", "password-andy").AccessToken
	w.bAdmin = s.login("globex", "bob", "password-bob").AccessToken
	w.bUser = s.login("globex", "bill", "password-bill").AccessToken
	r := s.do("POST", "/api/api-keys", w.bAdmin, map[string]any{"name": "ci", "scopes": []string{"orders:read"}})
	var created struct {
		APIKey struct{ ID string } `json:"api_key"`
		Key    string              `json:"key"`
	}
	r.Decode(t, &created)
	w.bKeyID, w.bKey = created.APIKey.ID, created.Key
	return w
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		w := setup(t, s)
		// Tenant A's admin tries everything of tenant B's: all refused,
		// and as not found, so B's objects' existence does not leak.
		attempts := []struct {
			method, path string
			body         any
			want         int
		}{
			{"GET", "/api/users/" + w.bUserID, nil, 404},
			{"PATCH", "/api/users/" + w.bUserID, map[string]any{"is_active": false}, 404},
			{"DELETE", "/api/users/" + w.bUserID, nil, 404},
			{"GET", "/api/users?tenant_id=" + w.tenantB, nil, 404},
			{"POST", "/api/users", map[string]any{"tenant_id": w.tenantB, "username": "mole", "password": "password-mole"}, 404},
			{"GET", "/api/tenants/" + w.tenantB, nil, 404},
			{"PATCH", "/api/tenants/" + w.tenantB, map[string]any{"display_name": "pwned"}, 404},
			{"DELETE", "/api/tenants/" + w.tenantB, nil, 403},
			{"PUT", "/api/tenants/" + w.tenantB + "/services/orders", nil, 403},
			{"GET", "/api/api-keys/" + w.bKeyID, nil, 404},
			{"DELETE", "/api/api-keys/" + w.bKeyID, nil, 404},
			{"GET", "/api/api-keys?tenant_id=" + w.tenantB, nil, 404},
			{"POST", "/api/api-keys", map[string]any{"name": "x", "tenant_id": w.tenantB, "tenant_key": true}, 404},
			{"GET", "/api/audit?tenant_id=" + w.tenantB, nil, 404},
		}
		for _, a := range attempts {
			r := s.do(a.method, a.path, w.aAdmin, a.body)
			if r.Status != a.want {
				t.Errorf("A's admin: %s %s = %d, want %d (%s)", a.method, a.path, r.Status, a.want, r.Body)
				continue
			}
			r.Problem(t)
		}
		// Nothing of B's changed, and A's lists hold only A's objects.
		var bUser struct {
			IsActive bool `json:"is_active"`
		}
		s.do("GET", "/api/users/"+w.bUserID, w.bAdmin, nil).Decode(t, &bUser)
		if !bUser.IsActive {
			t.Fatal("tenant B's user was deactivated by tenant A's admin")
		}
		if r := s.do("GET", "/api/api-keys/"+w.bKeyID, w.bAdmin, nil); r.Status != 200 {
			t.Fatalf("B's key: %d", r.Status)
		}
		var users []struct {
			TenantID string `json:"tenant_id"`
		}
		s.do("GET", "/api/users", w.aAdmin, nil).Decode(t, &users)
		if len(users) != 2 {
			t.Fatalf("A's admin lists %d users, want A's 2", len(users))
		}
		for _, u := range users {
			if u.TenantID != w.tenantA {
				t.Fatalf("A's admin sees a user of tenant %s", u.TenantID)
			}
		}
		var audit []struct {
			TenantID string `json:"tenant_id"`
		}
		s.do("GET", "/api/audit", w.aAdmin, nil).Decode(t, &audit)
		if len(audit) == 0 {
			t.Fatal("A's admin sees no audit entries of A")
		}
		for _, e := range audit {
			if e.TenantID != w.tenantA {
				t.Fatalf("A's admin sees an audit entry of tenant %q", e.TenantID)
			}
		}
		var tenants []struct{ ID string }
		s.do("GET", "/api/tenants", w.aAdmin, nil).Decode(t, &tenants)
		if len(tenants) != 1 || tenants[0].ID != w.tenantA {
			t.Fatalf("A's admin lists tenants %+v", tenants)
		}
	})
}

func TestRoles(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	w := setup(t, s)
	for _, a := range []struct {
		who, method, path string
		token             string
		body              any
		want              int
	}{
		{"tenant admin", "POST", "/api/users", w.aAdmin, map[string]any{"username": "boss", "password": "password-boss", "role": "super_admin"}, 403},
		{"tenant admin", "POST", "/api/tenants", w.aAdmin, map[string]any{"name": "mine"}, 403},
		{"tenant admin", "PUT", "/api/tenants/" + w.tenantB + "/services/billing", w.aAdmin, nil, 403},
		{"tenant admin", "PATCH", "/api/tenants/" + w.tenantA, w.aAdmin, map[string]any{"is_active": true}, 403},
		{"tenant admin", "PUT", "/api/tenants/" + w.tenantA + "/services/billing", w.aAdmin, nil, 200},
		{"tenant admin", "PATCH", "/api/tenants/" + w.tenantA, w.aAdmin, map[string]any{"enabled_services": []string{"orders", "billing"}}, 200},
		{"tenant admin", "PATCH", "/api/users/" + w.aAdminID, w.aAdmin, map[string]any{"role": "user"}, 403},
		{"user", "GET", "/api/users", w.aUser, nil, 403},
		{"user", "POST", "/api/users", w.aUser, map[string]any{"username": "x", "password": "password-x"}, 403},
		{"user", "PATCH", "/api/tenants/" + w.tenantA, w.aUser, map[string]any{"display_name": "x"}, 403},
		{"user", "GET", "/api/audit", w.aUser, nil, 403},
		{"user", "GET", "/api/users/" + w.aAdminID, w.aUser, nil, 404},
		{"tenant admin", "POST", "/api/users", w.aAdmin, map[string]any{"username": "newbie", "password": "password-newbie"}, 201},
		{"tenant admin", "PATCH", "/api/tenants/" + w.tenantA, w.aAdmin, map[string]any{"display_name": "ACME Inc", "config": map[string]any{"theme": "dark"}}, 200},
		{"user", "GET", "/api/users/" + w.aUserID, w.aUser, nil, 200},
		{"super admin", "PUT", "/api/tenants/" + w.tenantB + "/services/orders", w.super, nil, 200},
		{"super admin", "DELETE", "/api/tenants/" + w.tenantB, w.super, nil, 409}, // B still has users
	} {
		r := s.do(a.method, a.path, a.token, a.body)
		if r.Status != a.want {
			t.Errorf("%s: %s %s = %d, want %d (%s)", a.who, a.method, a.path, r.Status, a.want, r.Body)
		}
	}
	// Validation names the field.
	r := s.do("POST", "/api/users", w.aAdmin, map[string]any{"username": "weak", "password": "short"})
	if p := r.Problem(t); r.Status != 422 || p.Errors["password"] == "" {
		t.Fatalf("weak password: %d %+v", r.Status, p)
	}
	r = s.do("POST", "/api/tenants", w.super, map[string]any{"name": "acme"})
	if r.Status != 409 {
		t.Fatalf("duplicate tenant: %d", r.Status)
	}
	r = s.do("POST", "/api/tenants", w.super, map[string]any{"name": "bad", "config": []int{1}})
	if p := r.Problem(t); r.Status != 422 || p.Errors["config"] == "" {
		t.Fatalf("bad config: %d %+v", r.Status, p)
	}
}

func TestAPIKeysAndVerify(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		w := setup(t, s)
		if !strings.HasPrefix(w.bKey, "pb_live_") {
			t.Fatalf("key %q", w.bKey)
		}
		// The secret is shown once: never in lists or reads.
		for _, p := range []string{"/api/api-keys", "/api/api-keys/" + w.bKeyID} {
			if r := s.do("GET", p, w.bAdmin, nil); strings.Contains(string(r.Body), w.bKey) || r.Status != 200 {
				t.Fatalf("GET %s: %d, leaks the secret: %v", p, r.Status, strings.Contains(string(r.Body), w.bKey))
			}
		}
		verify := func(header, value string) response {
			return testenv.Do(t, "POST", s.URL+"/api/auth/verify", nil, header, value)
		}
		r := verify("X-API-Key", w.bKey)
		var id struct {
			TenantID string   `json:"tenant_id"`
			UserID   string   `json:"user_id"`
			Roles    []string `json:"roles"`
			Scopes   []string `json:"scopes"`
		}
		r.Decode(t, &id)
		if r.Status != 200 || id.TenantID != w.tenantB || id.UserID != w.bAdminID || id.Scopes[0] != "orders:read" || id.Roles[0] != "tenant_admin" {
			t.Fatalf("verify key: %d %s", r.Status, r.Body)
		}
		if r := verify("Authorization", "ApiKey "+w.bKey); r.Status != 200 {
			t.Fatalf("verify ApiKey scheme: %d", r.Status)
		}
		var tid struct {
			TenantID        string   `json:"tenant_id"`
			EnabledServices []string `json:"enabled_services"`
		}
		verify("Authorization", "Bearer "+w.aUser).Decode(t, &tid)
		if tid.TenantID != w.tenantA || len(tid.EnabledServices) != 1 || tid.EnabledServices[0] != "orders" {
			t.Fatalf("verify bearer: %+v", tid)
		}
		for _, bad := range []string{"pb_live_nope", "garbage", w.bKey + "x"} {
			if r := verify("X-API-Key", bad); r.Status != 401 {
				t.Errorf("verify %q: %d", bad, r.Status)
			}
		}
		if r := s.do("DELETE", "/api/api-keys/"+w.bKeyID, w.bAdmin, nil); r.Status != 204 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		if r := verify("X-API-Key", w.bKey); r.Status != 401 {
			t.Fatalf("verify a revoked key: %d", r.Status)
		}
		// A plain user sees only their own keys.
		s.mustCreate("/api/api-keys", w.aUser, map[string]any{"name": "mine"})
		s.mustCreate("/api/api-keys", w.aAdmin, map[string]any{"name": "machine", "tenant_key": true, "scopes": []string{"orders:read"}})
		// Registry scopes route traffic for every tenant: a super admin's to grant.
		// So are registry:read keys (the registry's instances are the platform's).
		for _, tok := range []string{w.aUser, w.aAdmin} {
			for _, scope := range []string{"registry:write", "registry:read", "registry:write:orders"} {
				if r := s.do("POST", "/api/api-keys", tok, map[string]any{"name": "reg", "scopes": []string{scope}}); r.Status != 422 {
					t.Fatalf("a non-super-admin granted %s: %d %s", scope, r.Status, r.Body)
				}
			}
		}
		s.mustCreate("/api/api-keys", w.super, map[string]any{"name": "plugin", "scopes": []string{"registry:write"}})
		var reader struct{ Key string }
		if r := s.do("POST", "/api/api-keys", w.super, map[string]any{"name": "reader", "scopes": []string{"registry:read"}}); r.Status != 201 {
			t.Fatalf("a super admin could not grant registry:read: %d %s", r.Status, r.Body)
		} else {
			r.Decode(t, &reader)
		}
		// registry:write:<service> binds a key to one service name, a valid one.
		var bound struct {
			Key    string
			APIKey struct{ Scopes []string } `json:"api_key"`
		}
		if r := s.do("POST", "/api/api-keys", w.super, map[string]any{"name": "notes-plugin", "scopes": []string{"registry:write:notes", "orders:read"}}); r.Status != 201 {
			t.Fatalf("a super admin could not grant registry:write:notes: %d %s", r.Status, r.Body)
		} else if r.Decode(t, &bound); !slices.Equal(bound.APIKey.Scopes, []string{"registry:write:notes", "orders:read"}) {
			t.Fatalf("registry:write:notes key scopes %v", bound.APIKey.Scopes)
		}
		if r := verify("X-API-Key", bound.Key); r.Status != 200 || !strings.Contains(string(r.Body), `"registry:write:notes"`) {
			t.Fatalf("verify a registry:write:notes key: %d %s", r.Status, r.Body)
		}
		for _, scope := range []string{"registry:write:", "registry:write:Notes", "registry:write:-notes", "registry:write:no/tes", "registry:write:notes:x", "registry:read:notes", "registry:write:" + strings.Repeat("n", 64)} {
			r := s.do("POST", "/api/api-keys", w.super, map[string]any{"name": "bad-bound", "scopes": []string{scope}})
			if r.Status != 422 || !strings.Contains(string(r.Body), "scopes[0]") {
				t.Errorf("scope %q: %d %s, want 422 naming scopes[0]", scope, r.Status, r.Body)
			}
		}
		var readerID struct{ Scopes []string }
		if r := verify("X-API-Key", reader.Key); r.Status != 200 {
			t.Fatalf("verify a registry:read key: %d %s", r.Status, r.Body)
		} else if r.Decode(t, &readerID); len(readerID.Scopes) != 1 || readerID.Scopes[0] != "registry:read" {
			t.Fatalf("verify a registry:read key: scopes %v", readerID.Scopes)
		}
		var keys []struct{ Name string }
		s.do("GET", "/api/api-keys", w.aUser, nil).Decode(t, &keys)
		if len(keys) != 1 || keys[0].Name != "mine" {
			t.Fatalf("user's keys %+v", keys)
		}
		if r := s.do("POST", "/api/api-keys", w.aUser, map[string]any{"name": "bad", "scopes": []string{"NOT A SCOPE"}}); r.Status != 422 {
			t.Fatalf("bad scope: %d", r.Status)
		}
		// A tenant-wide key reads its tenant but manages nothing, keys included.
		var machine struct {
			Key string `json:"key"`
		}
		s.do("POST", "/api/api-keys", w.aAdmin, map[string]any{"name": "machine-2", "tenant_key": true}).Decode(t, &machine)
		for _, tc := range []struct {
			method, path string
			want         int
		}{
			{"GET", "/api/api-keys", 403},
			{"POST", "/api/api-keys", 403},
			{"GET", "/api/users", 403},
			{"GET", "/api/audit", 403},
			{"GET", "/api/tenants/" + w.tenantA, 200},
			{"GET", "/api/tenants/" + w.tenantB, 404},
		} {
			if r := s.doKey(tc.method, tc.path, machine.Key, `{"name":"x"}`); r.Status != tc.want {
				t.Errorf("tenant key: %s %s = %d, want %d", tc.method, tc.path, r.Status, tc.want)
			}
		}
	})
}

// TestTenantAdminCannotTakeOverTheSuperAdmin: the first super admin lives
// in the default tenant; that tenant's admins must still not change it or
// its keys, and an API key without core:admin manages nothing.
func TestTenantAdminCannotTakeOverTheSuperAdmin(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	super := s.login("default", "admin", adminPassword).AccessToken
	var me struct {
		User struct{ ID, TenantID string } `json:"user"`
	}
	s.do("GET", "/api/auth/me", super, nil).Decode(t, &me)
	s.mustCreate("/api/users", super, map[string]any{"username": "deputy", "password": "password-deputy", "role": "tenant_admin"})
	deputy := s.login("default", "deputy", "password-deputy").AccessToken
	for _, body := range []map[string]any{{"password": "taken-over-1"}, {"is_active": false}, {"email": "evil@example.com"}} {
		if r := s.do("PATCH", "/api/users/"+me.User.ID, deputy, body); r.Status != 403 {
			t.Fatalf("a tenant admin changed the super admin with %v: %d", body, r.Status)
		}
	}
	var key struct {
		APIKey struct{ ID string } `json:"api_key"`
		Key    string              `json:"key"`
	}
	s.do("POST", "/api/api-keys", super, map[string]any{"name": "root"}).Decode(t, &key)
	for _, m := range []string{"GET", "DELETE"} {
		if r := s.do(m, "/api/api-keys/"+key.APIKey.ID, deputy, nil); r.Status != 404 {
			t.Fatalf("a tenant admin reached the super admin's key with %s: %d", m, r.Status)
		}
	}
	s.login("default", "admin", adminPassword) // still the super admin's password
	// The super admin's key without core:admin cannot act as a super admin.
	if r := s.doKey("POST", "/api/tenants", key.Key, map[string]string{"name": "via-key"}); r.Status != 403 {
		t.Fatalf("a key without core:admin created a tenant: %d %s", r.Status, r.Body)
	}
}

func TestDeactivationAndPasswordChangeEndSessions(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	w := setup(t, s)
	andy := s.login("acme", "andy", "password-andy")
	if r := s.do("PATCH", "/api/users/"+w.aUserID, w.aAdmin, map[string]any{"is_active": false}); r.Status != 200 {
		t.Fatalf("deactivate: %d %s", r.Status, r.Body)
	}
	if r := s.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": andy.RefreshToken}); r.Status != 401 {
		t.Fatalf("refresh of a deactivated user: %d", r.Status)
	}
	if r := s.do("GET", "/api/auth/me", andy.AccessToken, nil); r.Status != 401 {
		t.Fatalf("the access token of a deactivated user still works: %d", r.Status)
	}
	// A demoted admin loses the role at once, although the token says
	// otherwise: a role change ends the user's sessions, their tokens too.
	bob := s.login("globex", "bob", "password-bob")
	if r := s.do("PATCH", "/api/users/"+w.bAdminID, w.super, map[string]any{"role": "user"}); r.Status != 200 {
		t.Fatalf("demote: %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/api/users", bob.AccessToken, nil); r.Status != 401 {
		t.Fatalf("a demoted admin lists users with an old token: %d, want 401", r.Status)
	}
	if r := s.do("POST", "/api/auth/login", "", map[string]string{"tenant": "acme", "username": "andy", "password": "password-andy"}); r.Status != 401 {
		t.Fatalf("login of a deactivated user: %d", r.Status)
	}
	bill := s.login("globex", "bill", "password-bill")
	other := s.login("globex", "bill", "password-bill")
	r := s.do("POST", "/api/auth/password", bill.AccessToken, map[string]string{"current_password": "password-bill", "new_password": "password-bill-2"})
	if r.Status != 204 {
		t.Fatalf("password change: %d %s", r.Status, r.Body)
	}
	if r := s.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": other.RefreshToken}); r.Status != 401 {
		t.Fatalf("another session survived a password change: %d", r.Status)
	}
	if r := s.do("GET", "/api/auth/me", bill.AccessToken, nil); r.Status != 401 {
		t.Fatalf("the access token of a session a password change ended: %d, want 401", r.Status)
	}
	bill = s.login("globex", "bill", "password-bill-2")
	if r := s.do("POST", "/api/auth/password", bill.AccessToken, map[string]string{"current_password": "wrong", "new_password": "password-bill-3"}); r.Status != 422 {
		t.Fatalf("wrong current password: %d", r.Status)
	}
}

// doKey sends a request with an API key; see testenv.Do for body.
func (c *coreServer) doKey(method, path, key string, body any) response {
	c.t.Helper()
	return testenv.Do(c.t, method, c.URL+path, body, "X-API-Key", key)
}

// TestKeyCannotOutliveItsParent performs issue 11 finding 20: a core:admin
// key that expires in 24 h mints a key. The child used to never expire;
// now it expires with its parent, and asking for later (or for never,
// which is the default) is refused or capped.
func TestKeyCannotOutliveItsParent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		super := s.login("default", "admin", adminPassword).AccessToken
		expires := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		var parent struct {
			Key string `json:"key"`
		}
		s.do("POST", "/api/api-keys", super, map[string]any{"name": "ci", "scopes": []string{"core:admin"}, "expires_at": expires}).Decode(t, &parent)
		type created struct {
			APIKey struct {
				ExpiresAt *time.Time `json:"expires_at"`
			} `json:"api_key"`
		}
		var child created
		r := s.doKey("POST", "/api/api-keys", parent.Key, map[string]any{"name": "child", "scopes": []string{"core:admin"}})
		r.Decode(t, &child)
		if r.Status != 201 || child.APIKey.ExpiresAt == nil || !child.APIKey.ExpiresAt.Equal(expires) {
			t.Fatalf("a child of a key expiring %s: %d, expires_at %v", expires, r.Status, child.APIKey.ExpiresAt)
		}
		r = s.doKey("POST", "/api/api-keys", parent.Key, map[string]any{"name": "later", "expires_at": expires.Add(time.Hour)})
		if r.Status != 422 || r.Problem(t).Errors["expires_at"] == "" {
			t.Fatalf("a child expiring after its parent: %d %s", r.Status, r.Body)
		}
		sooner := expires.Add(-time.Hour)
		r = s.doKey("POST", "/api/api-keys", parent.Key, map[string]any{"name": "sooner", "expires_at": sooner})
		r.Decode(t, &child)
		if r.Status != 201 || child.APIKey.ExpiresAt == nil || !child.APIKey.ExpiresAt.Equal(sooner) {
			t.Fatalf("a child expiring sooner: %d %s", r.Status, r.Body)
		}
		// A key that never expires, and a person, may still mint one that never does.
		var forever struct {
			Key string `json:"key"`
		}
		s.do("POST", "/api/api-keys", super, map[string]any{"name": "forever", "scopes": []string{"core:admin"}}).Decode(t, &forever)
		r = s.doKey("POST", "/api/api-keys", forever.Key, map[string]any{"name": "child-2"})
		r.Decode(t, &child)
		if r.Status != 201 || child.APIKey.ExpiresAt != nil {
			t.Fatalf("a child of a key without expiry: %d %s", r.Status, r.Body)
		}
	})
}

// TestSuperAdminCannotDeactivateOwnTenant: deactivating the tenant you
// belong to would lock you (on a fresh install, every super admin) out.
func TestSuperAdminCannotDeactivateOwnTenant(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		super := s.login("default", "admin", adminPassword).AccessToken
		var me struct {
			Tenant struct{ ID string } `json:"tenant"`
		}
		s.do("GET", "/api/auth/me", super, nil).Decode(t, &me)
		r := s.do("PATCH", "/api/tenants/"+me.Tenant.ID, super, map[string]any{"is_active": false})
		if r.Status != 403 {
			t.Fatalf("deactivating the own tenant: %d %s", r.Status, r.Body)
		}
		r.Problem(t)
		s.login("default", "admin", adminPassword)
		// Another tenant can still be deactivated, and the own one set active.
		other := s.mustCreate("/api/tenants", super, map[string]any{"name": "acme"})
		if r := s.do("PATCH", "/api/tenants/"+other, super, map[string]any{"is_active": false}); r.Status != 200 {
			t.Fatalf("deactivating another tenant: %d %s", r.Status, r.Body)
		}
		if r := s.do("PATCH", "/api/tenants/"+me.Tenant.ID, super, map[string]any{"is_active": true}); r.Status != 200 {
			t.Fatalf("activating the own tenant: %d %s", r.Status, r.Body)
		}
	})
}

// TestLookAlikeUsernames performs issue 11 finding 19: usr-a, USR-A and
// the fullwidth ｕsr-a were three users of one tenant. Now USR-A is usr-a
// (409), the fullwidth form is refused (422), and the user logs in
// whatever the case typed, of the username and of the tenant.
func TestLookAlikeUsernames(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		super := s.login("default", "admin", adminPassword).AccessToken
		s.mustCreate("/api/tenants", super, map[string]any{"name": "ACME"})
		tenant := s.do("GET", "/api/tenants", super, nil)
		if !strings.Contains(string(tenant.Body), `"name":"acme"`) || strings.Contains(string(tenant.Body), `"ACME"`) {
			t.Fatalf("tenant ACME not stored as acme: %s", tenant.Body)
		}
		var me struct {
			Tenant struct{ ID string } `json:"tenant"`
		}
		s.do("GET", "/api/auth/me", super, nil).Decode(t, &me)
		for _, tc := range []struct {
			username string
			want     int
		}{{"usr-a", 201}, {"USR-A", 409}, {"Usr-a", 409}, {"\uff55sr-a", 422}, {"us\u0433-a", 422}} {
			r := s.do("POST", "/api/users", super, map[string]any{"username": tc.username, "password": "password-usr-a", "role": "user"})
			if r.Status != tc.want {
				t.Fatalf("create %q: %d %s, want %d", tc.username, r.Status, r.Body, tc.want)
			}
			if tc.want != 201 {
				r.Problem(t)
			}
		}
		for _, tc := range []struct{ tenant, username string }{{"default", "USR-A"}, {"DEFAULT", "usr-a"}, {"Default", "Usr-A"}} {
			s.login(tc.tenant, tc.username, "password-usr-a")
		}
		if r := s.do("POST", "/api/tenants", super, map[string]any{"name": "Acme"}); r.Status != 409 {
			t.Fatalf("tenant Acme beside acme: %d %s", r.Status, r.Body)
		}
	})
}

// TestTwoCredentialsAreRefused: a request carrying two valid credentials (a
// super_admin's token and another tenant's key) is refused with 401, as
// jwt_auth refuses it, rather than silently acting as one of them
// (credential.Parse is the one reading of credentials).
func TestTwoCredentialsAreRefused(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	w := setup(t, s)
	for _, tc := range []struct {
		method, path string
		headers      [][2]string
	}{
		{"GET", "/api/auth/me", [][2]string{{"Authorization", "Bearer " + w.super}, {"X-API-Key", w.bKey}}},
		{"GET", "/api/users", [][2]string{{"Authorization", "Bearer " + w.bAdmin}, {"X-API-Key", w.bKey}}},
		{"POST", "/api/auth/verify", [][2]string{{"Authorization", "Bearer " + w.super}, {"X-API-Key", w.bKey}}},
		{"POST", "/api/auth/verify", [][2]string{{"X-API-Key", w.bKey}, {"X-API-Key", w.bKey}}},
		{"GET", "/api/auth/me", [][2]string{{"Authorization", "Basic YWRtaW46eA=="}}},
	} {
		var header []string
		for _, h := range tc.headers {
			header = append(header, h[0], h[1])
		}
		r := testenv.Do(t, tc.method, s.URL+tc.path, nil, header...)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s with %v: %d %s", tc.method, tc.path, tc.headers, r.Status, r.Body)
			continue
		}
		if p := r.Problem(t); p.Detail != credential.InvalidMessage {
			t.Errorf("%s %s: detail %q", tc.method, tc.path, p.Detail)
		}
	}
}

// TestAuditFilters reads the audit log filtered by actor, action, object
// and time, within the caller's tenant, and refuses bad filters naming them.
func TestAuditFilters(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	w := setup(t, s)
	type entry struct {
		TenantID   string    `json:"tenant_id"`
		ActorName  string    `json:"actor_name"`
		Action     string    `json:"action"`
		ObjectType string    `json:"object_type"`
		ObjectID   string    `json:"object_id"`
		CreatedAt  time.Time `json:"created_at"`
	}
	list := func(token string, q url.Values) []entry {
		t.Helper()
		var got []entry
		r := s.do("GET", "/api/audit?"+q.Encode(), token, nil)
		if r.Status != 200 {
			t.Fatalf("GET /api/audit?%s: %d %s", q.Encode(), r.Status, r.Body)
		}
		r.Decode(t, &got)
		return got
	}
	creates := list(w.super, url.Values{"actor": {"admin"}, "action": {"user.*"}})
	if len(creates) != 4 {
		t.Fatalf("the admin's user.* entries: %+v, want the 4 user.create", creates)
	}
	for _, e := range creates {
		if e.ActorName != "admin" || e.Action != "user.create" {
			t.Fatalf("actor=admin&action=user.* answered %+v", e)
		}
	}
	if got := list(w.super, url.Values{"object_type": {"user"}, "object_id": {w.aUserID}}); len(got) != 2 || got[0].Action != "auth.login" || got[1].Action != "user.create" {
		t.Fatalf("andy's entries: %+v", got)
	}
	if got := list(w.super, url.Values{"action": {"api_key.create"}, "tenant_id": {w.tenantB}}); len(got) != 1 || got[0].ActorName != "bob" {
		t.Fatalf("B's api_key.create: %+v", got)
	}
	// A tenant admin's filters stay within their tenant.
	if got := list(w.aAdmin, url.Values{"actor": {"bob"}}); len(got) != 0 {
		t.Fatalf("A's admin sees bob's entries: %+v", got)
	}
	if got := list(w.aAdmin, url.Values{"action": {"auth.login"}}); len(got) != 2 || got[0].TenantID != w.tenantA {
		t.Fatalf("A's logins: %+v", got)
	}
	// from is inclusive, to exclusive.
	at := creates[1].CreatedAt.Format(time.RFC3339Nano)
	if got := list(w.super, url.Values{"actor": {"admin"}, "action": {"user.create"}, "from": {at}}); len(got) != 2 {
		t.Fatalf("from the third user.create: %d entries, want 2", len(got))
	}
	if got := list(w.super, url.Values{"actor": {"admin"}, "action": {"user.create"}, "to": {at}}); len(got) != 2 {
		t.Fatalf("to the third user.create: %d entries, want 2", len(got))
	}
	for _, tc := range []struct{ query, field string }{
		{"actor=", "actor"},
		{"action=user*", "action"},
		{"action=.*", "action"},
		{"object_id=", "object_id"},
		{"from=yesterday", "from"},
		{"to=2026-01-01", "to"},
		{"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"},
	} {
		r := s.do("GET", "/api/audit?"+tc.query, w.super, nil)
		if p := r.Problem(t); r.Status != 422 || p.Errors[tc.field] == "" {
			t.Errorf("?%s: %d %s, want 422 naming %s", tc.query, r.Status, r.Body, tc.field)
		}
	}
}

// TestConfigWatchEndsWhenTheCallerIsDeactivated performs issue 15's finding
// 10: an open /api/config/watch stream kept delivering changes, values
// included, after its user was deactivated. The watch verifies its caller
// again when core's change feed says the caller's account changed (and at
// every 5-s resync as the safety net): the stream ends with "reconnect"
// well before a resync would end it, and the reconnect is refused.
func TestConfigWatchEndsWhenTheCallerIsDeactivated(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	w := setup(t, s)
	andy := s.login("acme", "andy", "password-andy")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/config/watch", nil)
	req.Header.Set("Authorization", "Bearer "+andy.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("watch: %v %v", resp, err)
	}
	events := testenv.SSEEvents(resp, 16)
	if ev := testenv.NextSSE(t, events, 5*time.Second); ev.Event != "snapshot" {
		t.Fatalf("first event %+v", ev)
	}
	if r := s.do("PATCH", "/api/users/"+w.aUserID, w.aAdmin, map[string]any{"is_active": false}); r.Status != 200 {
		t.Fatalf("deactivate: %d %s", r.Status, r.Body)
	}
	for {
		ev := testenv.NextSSE(t, events, 3*time.Second) // the resync comes after 5 s
		if ev.Event == "reconnect" {
			break
		}
		if ev.Event == "change" {
			t.Fatalf("a deactivated user's watch received %+v", ev)
		}
	}
	if r := s.do("GET", "/api/config/watch", andy.AccessToken, nil); r.Status != 401 {
		t.Fatalf("reconnect of a deactivated user: %d", r.Status)
	}
}
