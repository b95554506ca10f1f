package dynamicupstreams_test

import (
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkCoreMatcher prices the shipped Caddyfile's @core matcher, which
// every plugin request passes through before /api/*: the one path_regexp it
// uses, beside the thirteen path patterns it replaced.
func BenchmarkCoreMatcher(b *testing.B) {
	r := httptest.NewRequest("GET", "/api/v1/users/42", nil)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), httptest.NewRecorder(), nil)
	b.Run("path_regexp", func(b *testing.B) {
		m := caddyhttp.MatchPathRE{MatchRegexp: caddyhttp.MatchRegexp{Pattern: `^(?i)/api/(auth|users|tenants|api-keys|config|roles|audit)(/|$)`}}
		if err := m.Provision(caddy.Context{}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			m.MatchWithError(r)
		}
	})
	b.Run("path_13_patterns", func(b *testing.B) {
		m := caddyhttp.MatchPath{"/api/auth/*", "/api/users", "/api/users/*", "/api/tenants", "/api/tenants/*",
			"/api/api-keys", "/api/api-keys/*", "/api/config", "/api/config/*", "/api/roles", "/api/roles/*",
			"/api/audit", "/api/audit/*"}
		if err := m.Provision(caddy.Context{}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			m.MatchWithError(r)
		}
	})
}
