package cored_test

import (
	"strings"
	"testing"
)

// TestMePermissions: GET /api/auth/me tells the console what the caller
// may do (issue 14), for each role and for API keys, and each code matches
// what the API then allows.
func TestMePermissions(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	w := setup(t, s)
	permissions := func(t *testing.T, r response) string {
		t.Helper()
		var me struct {
			Permissions []string `json:"permissions"`
		}
		if r.Status != 200 {
			t.Fatalf("me: %d %s", r.Status, r.Body)
		}
		r.Decode(t, &me)
		return strings.Join(me.Permissions, " ")
	}
	const (
		super = "dashboard:read services:read services:deregister services:enable tenants:read tenants:write users:read users:write keys:read keys:write config:read config:write config:write_global audit:read traffic:read"
		admin = "dashboard:read services:read services:enable tenants:read users:read users:write keys:read keys:write config:read config:write audit:read traffic:read"
		user  = "dashboard:read tenants:read keys:read keys:write config:read"
	)
	for _, tc := range []struct{ name, token, want string }{
		{"super_admin", w.super, super},
		{"tenant_admin", w.aAdmin, admin},
		{"user", w.aUser, user},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := permissions(t, s.do("GET", "/api/auth/me", tc.token, nil)); got != tc.want {
				t.Errorf("permissions =\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
	// The codes agree with what the API answers the same callers.
	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		want                      int
	}{
		{"users:read for a tenant_admin", w.aAdmin, "GET", "/api/users", nil, 200},
		{"no users:read for a user", w.aUser, "GET", "/api/users", nil, 403},
		{"audit:read for a tenant_admin", w.aAdmin, "GET", "/api/audit", nil, 200},
		{"no audit:read for a user", w.aUser, "GET", "/api/audit", nil, 403},
		{"no config:write for a user", w.aUser, "PUT", "/api/config/orders/k", map[string]any{"value": 1}, 403},
		{"config:write for a tenant_admin", w.aAdmin, "PUT", "/api/config/orders/k", map[string]any{"value": 1}, 201},
		{"no config:write_global for a tenant_admin", w.aAdmin, "PUT", "/api/config/orders/k?scope=global", map[string]any{"value": 1}, 403},
		{"services:enable for a tenant_admin, own tenant", w.aAdmin, "PUT", "/api/tenants/" + w.tenantA + "/services/billing", nil, 200},
		{"no services:enable in another tenant", w.aAdmin, "PUT", "/api/tenants/" + w.tenantB + "/services/billing", nil, 403},
		{"no tenant deactivation for a tenant_admin", w.aAdmin, "PATCH", "/api/tenants/" + w.tenantA, map[string]any{"is_active": false}, 403},
		{"no tenants:write for a tenant_admin", w.aAdmin, "POST", "/api/tenants", map[string]any{"name": "initech"}, 403},
	} {
		if r := s.do(tc.method, tc.path, tc.token, tc.body); r.Status != tc.want {
			t.Errorf("%s: %s %s = %d, want %d (%s)", tc.name, tc.method, tc.path, r.Status, tc.want, r.Body)
		}
	}

	// API keys: without core:admin a key acts with no role; with it, with
	// its user's; registry scopes grant the registry's codes.
	key := func(token string, scopes ...string) string {
		t.Helper()
		var created struct {
			Key string `json:"key"`
		}
		r := s.do("POST", "/api/api-keys", token, map[string]any{"name": "k-" + strings.Join(scopes, "-"), "scopes": scopes})
		if r.Status != 201 {
			t.Fatalf("create key %v: %d %s", scopes, r.Status, r.Body)
		}
		r.Decode(t, &created)
		return created.Key
	}
	for _, tc := range []struct{ name, key, want string }{
		{"tenant_admin key with core:admin", key(w.aAdmin, "core:admin"),
			"dashboard:read services:enable tenants:read users:read users:write keys:read keys:write config:read config:write audit:read traffic:read"},
		{"tenant_admin key without core:admin", key(w.aAdmin, "orders:read"), "dashboard:read tenants:read keys:read config:read"},
		{"super_admin key with registry:write", key(w.super, "registry:write"),
			"dashboard:read services:read services:deregister tenants:read keys:read config:read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := permissions(t, s.doKey("GET", "/api/auth/me", tc.key, nil)); got != tc.want {
				t.Errorf("permissions =\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
}
