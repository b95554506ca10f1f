package httpx_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/httpx"
)

// /readyz separates hard dependencies from degraded ones: a Redis blip must
// not make a load balancer drop every replica (issue 12, finding 5), while
// a lost database still does.
func TestReadyzDegradedDependencies(t *testing.T) {
	down := func(context.Context) error { return errors.New("connection refused") }
	up := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name       string
		db, redis  func(context.Context) error
		status     int
		bodyHas    string
		retryAfter bool
	}{
		{"all up", up, up, 200, `"status":"ready"`, false},
		{"redis down", up, down, 200, `"degraded":["Redis"]`, false},
		{"database down", down, up, 503, "The database is not reachable.", true},
		{"both down", down, down, 503, "The database is not reachable.", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httpx.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)),
				httpx.Check{Name: "The database", Ping: tc.db},
				httpx.Check{Name: "Redis", Ping: tc.redis, Degraded: true})
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.bodyHas) {
				t.Fatalf("/readyz = %d %s; want %d with %s", w.Code, w.Body, tc.status, tc.bodyHas)
			}
			if got := w.Header().Get("Retry-After") != ""; got != tc.retryAfter {
				t.Fatalf("Retry-After present = %v, want %v", got, tc.retryAfter)
			}
		})
	}
}
