package httpx_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		typ        string
		detail     string
		withFields bool
	}{
		{"not found", fault.Errorf(fault.NotFound, "No such thing."), 404, "/problems/not_found", "No such thing.", false},
		{"conflict", fault.Errorf(fault.Conflict, "Exists."), 409, "/problems/conflict", "Exists.", false},
		{"invalid without fields", fault.Errorf(fault.Invalid, "Bad."), 400, "/problems/invalid", "Bad.", false},
		{"invalid with fields", fault.InvalidFields("Bad.", map[string]string{"port": "out of range"}), 422, "/problems/invalid", "Bad.", true},
		{"internal hides detail", errors.New("db password is hunter2"), 500, "/problems/internal", "Internal error.", false},
		{"wrapped fault", errors.Join(errors.New("ctx"), fault.Errorf(fault.Forbidden, "No.")), 403, "/problems/forbidden", "No.", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/x/y", nil)
			httpx.WriteError(w, r, slog.New(slog.NewTextHandler(io.Discard, nil)), tc.err)
			if w.Code != tc.status || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
			}
			var p httpx.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != tc.typ || p.Status != tc.status || p.Detail != tc.detail || p.Instance != "/x/y" || (len(p.Errors) > 0) != tc.withFields {
				t.Fatalf("problem = %+v", p)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		Port int    `json:"port"`
	}
	tests := []struct {
		name  string
		ctype string
		body  string
		code  string
		field string
	}{
		{"ok", "application/json", `{"name":"a","port":1}`, "", ""},
		{"ok without content type", "", `{"name":"a"}`, "", ""},
		{"empty", "application/json", ``, fault.Invalid, ""},
		{"syntax", "application/json", `{"name":`, fault.Invalid, ""},
		{"garbage", "application/json", `{"name" 1}`, fault.Invalid, ""},
		{"wrong type", "application/json", `{"port":"80"}`, fault.Invalid, "port"},
		{"unknown field", "application/json", `{"nmae":"a"}`, fault.Invalid, "nmae"},
		{"two values", "application/json", `{"name":"a"} {"name":"b"}`, fault.Invalid, ""},
		{"form content type with a JSON body", "application/x-www-form-urlencoded", `{"name":"a"}`, "", ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 200) + `"}`, fault.TooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var b body
			err := httpx.Decode(httptest.NewRecorder(), r, 100, &b)
			if got := fault.Code(err); got != tc.code {
				t.Fatalf("Decode = %v (code %q), want code %q", err, got, tc.code)
			}
			if tc.field != "" && fault.Fields(err)[tc.field] == "" {
				t.Fatalf("Decode error %v does not name %s", err, tc.field)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	h := httpx.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, httpx.RequestID(r.Context()))
	}))
	t.Run("keeps a sane client request ID", func(t *testing.T) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-Id", "abc-123")
		h.ServeHTTP(w, r)
		if w.Body.String() != "abc-123" || w.Header().Get("X-Request-Id") != "abc-123" {
			t.Fatalf("body %q header %q", w.Body, w.Header().Get("X-Request-Id"))
		}
	})
	t.Run("replaces an insane one", func(t *testing.T) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-Id", "bad id\n")
		h.ServeHTTP(w, r)
		if got := w.Body.String(); got == "" || strings.ContainsAny(got, " \n") {
			t.Fatalf("request id %q", got)
		}
	})
	t.Run("recovers panics as problems", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/panic", nil))
		if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(w.Body.String(), "boom") {
			t.Fatalf("panic answer: %d %q", w.Code, w.Body)
		}
	})
}

func TestRouterAnswersUnknownRoutesWithProblems(t *testing.T) {
	r := httpx.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Post("/things", func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", "/nope", 404}, {"GET", "/things", 405}, {"GET", "/healthz", 200}, {"GET", "/readyz", 200}} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, w.Code, tc.status)
		}
		if tc.status >= 400 && w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: content type %q", tc.method, tc.path, w.Header().Get("Content-Type"))
		}
	}
}
