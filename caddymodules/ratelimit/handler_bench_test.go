package ratelimit

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
)

// benchHandler runs ServeHTTP of a request to an endpoint with its own
// non-binding limit under a non-binding service default, for one caller:
// the whole per-request cost of plugboard_rate_limit (bucket names,
// decision, headers), embedded or with Redis.
//
//	go test ./caddymodules/ratelimit -run '^$' -bench Handler
func benchHandler(b *testing.B, redisURL, prefix string) {
	e, err := newEngine(redisURL, prefix, time.Second, time.Second, DefaultMaxKeys, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Destruct()
	h := &Handler{Default: &registry.RateLimit{Requests: 1_000_000_000, Per: "1s"}, engine: e, now: time.Now}
	rt := &gatewayctx.Resolved{Service: "orders", Endpoint: &registry.Endpoint{Path: "/items/{id}", Method: "GET",
		RateLimit: &registry.RateLimit{Requests: 1_000_000_000, Per: "1s", Key: registry.KeyTenant}}}
	caller := &gatewayctx.Caller{UserID: "user-1", TenantID: "tenant-1"}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/api/orders/items/1", nil)
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		caddyhttp.SetVar(r.Context(), gatewayctx.VarResolved, rt)
		caddyhttp.SetVar(r.Context(), gatewayctx.VarCaller, caller)
		for pb.Next() {
			if err := h.ServeHTTP(w, r, next); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkHandlerLocal(b *testing.B) { benchHandler(b, "", "") }

func BenchmarkHandlerRedis(b *testing.B) {
	url, prefix := testenv.RedisURL(b)
	benchHandler(b, url, prefix)
}
