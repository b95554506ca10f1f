package httpx_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
)

// A 405 must carry Allow (RFC 9110 §15.5.6), computed from the routing
// tree, through mounted subrouters and at their mount points too.
func TestMethodNotAllowedSendsAllow(t *testing.T) {
	r := httpx.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Route("/api/x", func(r chi.Router) {
		r.Get("/items", func(http.ResponseWriter, *http.Request) {})
		r.Post("/items", func(http.ResponseWriter, *http.Request) {})
		r.Patch("/items/{id}", func(http.ResponseWriter, *http.Request) {})
	})
	r.Route("/api/y", func(r chi.Router) {
		r.Get("/", func(http.ResponseWriter, *http.Request) {})
	})
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/api/x/items", "GET, POST"},
		{"GET", "/api/x/items/a%20b", "PATCH"},
		{"DELETE", "/api/y", "GET"},
		{"DELETE", "/api/y/", "GET"},
		{"POST", "/healthz", "GET"},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != 405 || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", tc.method, tc.path, w.Code, w.Header().Get("Allow"), tc.allow)
		}
	}
}

// The problem instance is a URI reference: the path as sent, encoded.
func TestProblemInstanceIsEscaped(t *testing.T) {
	r := httpx.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, nil, fault.Errorf(fault.NotFound, "No."))
	})
	for _, path := range []string{"/things/a%20b", "/nope/a%20b%2Fc"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		var p httpx.Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Instance != path {
			t.Errorf("GET %s: instance %q, want %q", path, p.Instance, path)
		}
	}
}

func TestDecodeRefusesNulls(t *testing.T) {
	type endpoint struct {
		Path  string   `json:"path"`
		Roles []string `json:"roles"`
	}
	type role string
	type body struct {
		Name      string          `json:"name"`
		Port      int             `json:"port"`
		Role      *role           `json:"role"`
		Comment   *string         `json:"comment" nullable:"true"`
		Tags      []string        `json:"tags"`
		Meta      json.RawMessage `json:"meta"`
		Expires   *time.Time      `json:"expires" nullable:"true"`
		Endpoints []endpoint      `json:"endpoints"`
		Labels    map[string]string
	}
	tests := []struct {
		name, body, field string
	}{
		{"string", `{"name":null}`, "name"},
		{"number", `{"port":null}`, "port"},
		{"pointer not marked nullable", `{"role":null}`, "role"},
		{"null body", `null`, "(body)"},
		{"null body with spaces", " null \n", "(body)"},
		{"nested", `{"endpoints":[{"path":null}]}`, "endpoints[0].path"},
		{"array element", `{"tags":["a",null]}`, "tags[1]"},
		{"array of structs element", `{"endpoints":[null]}`, "endpoints[0]"},
		{"map value", `{"Labels":{"a":null}}`, "Labels.a"},
		{"case-folded key", `{"NAME":null}`, "NAME"},
		{"nullable pointer", `{"comment":null}`, ""},
		{"nullable time", `{"expires":null}`, ""},
		{"slice", `{"tags":null,"endpoints":[{"path":"/","roles":null}]}`, ""},
		{"raw message", `{"meta":null}`, ""},
		{"values", `{"name":"a","role":"x","meta":{"a":null}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			var b body
			err := httpx.Decode(httptest.NewRecorder(), r, 0, &b)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Decode(%s) = %v, want nil", tc.body, err)
				}
				return
			}
			if fault.Code(err) != fault.Invalid || fault.Fields(err)[tc.field] == "" {
				t.Fatalf("Decode(%s) = %v (fields %v), want invalid naming %s", tc.body, err, fault.Fields(err), tc.field)
			}
			w := httptest.NewRecorder()
			httpx.WriteError(w, r, nil, err)
			if w.Code != 422 {
				t.Fatalf("status %d, want 422", w.Code)
			}
		})
	}
}

func TestQueryRefusesEmptyValues(t *testing.T) {
	for _, tc := range []struct{ query, field string }{
		{"limit=", "limit"},
		{"limit", "limit"},
		{"a=1&limit=", "limit"},
		{"limit=1&limit=", "limit"},
		{"a=%zz", "(query)"},
		{"a=1&b=", "b"},
		{"", ""},
		{"limit=0&a=b", ""},
	} {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		q, err := httpx.Query(r)
		if tc.field == "" {
			if err != nil {
				t.Errorf("Query(%q) = %v", tc.query, err)
			}
			continue
		}
		if q != nil || fault.Fields(err)[tc.field] == "" {
			t.Errorf("Query(%q) = %v, %v; want an error naming %s", tc.query, q, err, tc.field)
		}
	}
}

func TestNonEmptyHeaders(t *testing.T) {
	for _, tc := range []struct {
		values []string
		bad    bool
	}{{nil, false}, {[]string{`"3"`}, false}, {[]string{""}, true}, {[]string{"  "}, true}, {[]string{"", ""}, true}} {
		r := httptest.NewRequest("PUT", "/", nil)
		for _, v := range tc.values {
			r.Header.Add("If-Match", v)
		}
		err := httpx.NonEmptyHeaders(r, "If-None-Match", "If-Match")
		if (err != nil) != tc.bad || err != nil && (fault.Code(err) != fault.Invalid || !strings.Contains(fault.Message(err), "If-Match")) {
			t.Errorf("If-Match %q: %v", tc.values, err)
		}
	}
}
