package dynamicupstreams_test

import (
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/internal/routes"
)

// BenchmarkCoreMatcher prices the shipped Caddyfile's @core matcher, which
// every plugin request passes through before /api/*: the one path_regexp it
// uses, beside the path patterns it replaced (each prefix alone and with a
// subpath). Both are built from internal/routes, the one list of prefixes.
func BenchmarkCoreMatcher(b *testing.B) {
	r := httptest.NewRequest("GET", "/api/v1/users/42", nil)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), httptest.NewRecorder(), nil)
	b.Run("path_regexp", func(b *testing.B) {
		m := caddyhttp.MatchPathRE{MatchRegexp: caddyhttp.MatchRegexp{Pattern: routes.CoreRegexp()}}
		if err := m.Provision(caddy.Context{}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			m.MatchWithError(r)
		}
	})
	b.Run("path_patterns", func(b *testing.B) {
		var m caddyhttp.MatchPath
		for _, p := range routes.Core() {
			m = append(m, "/api/"+p, "/api/"+p+"/*")
		}
		if err := m.Provision(caddy.Context{}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			m.MatchWithError(r)
		}
	})
}
