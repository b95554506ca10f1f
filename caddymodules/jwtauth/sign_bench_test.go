package jwtauth

import (
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkSetIdentity measures the per-request signing work: the identity
// headers and their signature for one request.
func BenchmarkSetIdentity(b *testing.B) {
	h := &JWTAuth{SigningSecret: "bench-signing-secret-0123456789-abcdef"}
	if err := h.setup(); err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/v1/items/1?a=2", nil), caddy.NewReplacer(), w, nil)
	id := newIdentity("0197a3c2-user", "0197a3c2-tenant", []string{"tenant_admin", "user"}, []string{"notes:write"}, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.setIdentity(r, "notes", id)
	}
}
