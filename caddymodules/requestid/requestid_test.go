package requestid

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"client's id kept", "abc-123", true},
		{"missing id made", "", false},
		{"insane id replaced", "bad id\x01", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/", nil)
			if tc.sent != "" {
				r.Header.Set(Header, tc.sent)
			}
			r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
			var seen string
			err := Handler{}.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seen = r.Header.Get(Header)
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			got := w.Header().Get(Header)
			if got == "" || got != seen || (tc.kept && got != tc.sent) || (!tc.kept && (got == tc.sent || len(got) != 32)) {
				t.Fatalf("sent %q: response %q, upstream %q", tc.sent, got, seen)
			}
		})
	}
}
