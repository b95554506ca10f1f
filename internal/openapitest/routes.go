package openapitest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// Routes walks a service's router and returns every operation it mounts,
// keyed as "get /api/users" (chi's pattern, a trailing slash dropped: chi
// gives r.Get("/") inside r.Route("/api/users") as /api/users/), each
// mapped to whether one of guards is among the middleware in front of it.
// It fails t when the router mounts nothing.
func Routes(t testing.TB, r chi.Routes, guards ...func(http.Handler) http.Handler) map[string]bool {
	t.Helper()
	ptrs := make([]uintptr, len(guards))
	for i, g := range guards {
		ptrs[i] = reflect.ValueOf(g).Pointer()
	}
	routes := map[string]bool{}
	err := chi.Walk(r, func(method, route string, _ http.Handler, mws ...func(http.Handler) http.Handler) error {
		if route != "/" {
			route = strings.TrimSuffix(route, "/")
		}
		routes[strings.ToLower(method)+" "+route] = slices.ContainsFunc(mws, func(mw func(http.Handler) http.Handler) bool {
			return slices.Contains(ptrs, reflect.ValueOf(mw).Pointer())
		})
		return nil
	})
	if err != nil {
		t.Fatalf("walk the routes: %v", err)
	}
	if len(routes) == 0 {
		t.Fatal("the router mounts nothing")
	}
	return routes
}

var templateParams = regexp.MustCompile(`\{([^}]+)\}`)

// CheckPathParams fails t unless the operation op of the path item item,
// at path template path, declares (on the item or the operation) exactly
// the parameters of the template, each required. name names the operation
// in failures.
func CheckPathParams(t testing.TB, doc map[string]any, name, path string, item, op map[string]any) {
	t.Helper()
	declared := map[string]bool{}
	for _, list := range []any{item["parameters"], op["parameters"]} {
		ps, _ := list.([]any)
		for _, p := range ps {
			pm := Deref(t, doc, p)
			if pm["in"] == "path" {
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", name, pm["name"])
				}
				declared[fmt.Sprint(pm["name"])] = true
			}
		}
	}
	inTemplate := map[string]bool{}
	for _, m := range templateParams.FindAllStringSubmatch(path, -1) {
		inTemplate[m[1]] = true
	}
	if !reflect.DeepEqual(declared, inTemplate) {
		t.Errorf("%s: path parameters declared %v, template has %v", name, declared, inTemplate)
	}
}

// CheckServed fails t unless h answers GET path with want, as
// application/json.
func CheckServed(t testing.TB, h http.Handler, path string, want []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), want) {
		t.Errorf("GET %s: the served document differs from the file", path)
	}
}
