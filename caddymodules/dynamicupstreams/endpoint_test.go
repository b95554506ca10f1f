package dynamicupstreams

import (
	"net/url"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/registry"
)

func TestMatchEndpoint(t *testing.T) {
	eps := []registry.Endpoint{
		{Method: "GET", Path: "/items"},
		{Method: "GET", Path: "/items/{id}"},
		{Method: "GET", Path: "/items/new"},
		{Method: "DELETE", Path: "/items/{id}"},
		{Method: "GET", Path: "/files/{path...}"},
		{Method: "POST", Path: "/"},
	}
	tests := []struct {
		method, path string
		want         int // index in eps, -1 for none
	}{
		{"GET", "/items", 0},
		{"GET", "/items/", 0},
		{"GET", "/items/42", 1},
		{"HEAD", "/items/42", 1},
		{"GET", "/items/new", 2},
		{"DELETE", "/items/42", 3},
		{"DELETE", "/items", -1},
		{"PATCH", "/other", -1},
		{"PUT", "/items/nope/deeper", -1},
		{"GET", "/items/42/parts", -1},
		{"GET", "/files/a/b/c", 4},
		{"GET", "/files", 4},
		{"POST", "/", 5},
		{"GET", "/items/a%20b", 1},
		{"GET", "/other", -1},
	}
	for _, tc := range tests {
		got := MatchEndpoint(eps, tc.method, tc.path)
		switch {
		case tc.want < 0 && got != nil:
			t.Errorf("%s %s matched %+v, want none", tc.method, tc.path, *got)
		case tc.want >= 0 && got != &eps[tc.want]:
			t.Errorf("%s %s matched %+v, want %+v", tc.method, tc.path, got, eps[tc.want])
		}
	}
}

func TestUndeclaredMethodGetsThePathsStrictestPolicy(t *testing.T) {
	eps := []registry.Endpoint{
		{Method: "GET", Path: "/admin", RequiredRoles: []string{"user", "tenant_admin"}},
		{Method: "POST", Path: "/admin", RequiredRoles: []string{"tenant_admin"}},
		{Method: "GET", Path: "/open", IsPublic: true},
	}
	got := MatchEndpoint(eps, "PUT", "/admin")
	if got == nil || got.IsPublic || len(got.RequiredRoles) != 1 || got.RequiredRoles[0] != "tenant_admin" {
		t.Fatalf("PUT /admin = %+v, want tenant_admin required", got)
	}
	if got := MatchEndpoint(eps, "DELETE", "/open"); got != nil {
		t.Fatalf("DELETE /open = %+v, want no endpoint (any identity), never public", got)
	}
}

// FuzzMatchTemplate holds matchTemplate, which walks both paths without
// allocating, to the plain split-and-compare version it replaced.
func FuzzMatchTemplate(f *testing.F) {
	for _, s := range [][2]string{{"/items/{id}", "/items/42"}, {"/files/{p...}", "/files"}, {"/a/*", "/a/b/c"},
		{"/a/*/b", "/a/*/b"}, {"//x//{y}/", "/x/%41/"}, {"/", "/"}, {"/a%20b", "/a b"}, {"/{x...}/y", "/q/y"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tmpl, rest string) {
		score, ok := matchTemplate(tmpl, rest)
		rscore, rok := matchTemplateReference(splitPathReference(tmpl), splitPathReference(rest))
		if score != rscore || ok != rok {
			t.Fatalf("matchTemplate(%q, %q) = %d, %v; the plain version says %d, %v", tmpl, rest, score, ok, rscore, rok)
		}
	})
}

func splitPathReference(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			if u, err := url.PathUnescape(s); err == nil {
				s = u
			}
			out = append(out, s)
		}
	}
	return out
}

func matchTemplateReference(tmpl, segs []string) (int, bool) {
	score := 0
	for i, t := range tmpl {
		wild := t == "*" || (strings.HasPrefix(t, "{") && strings.HasSuffix(t, "...}"))
		if wild && i == len(tmpl)-1 {
			return score, len(segs) >= i
		}
		if i >= len(segs) {
			return 0, false
		}
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			continue
		}
		if t != segs[i] {
			return 0, false
		}
		score++
	}
	return score, len(segs) == len(tmpl)
}
