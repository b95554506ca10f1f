package dynamicupstreams

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

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
		want         int // index in eps, -1 for none, -2 for the path's rule for an undeclared method
	}{
		{"GET", "/items", 0},
		{"GET", "/items/", 0},
		{"GET", "/items/42", 1},
		{"HEAD", "/items/42", 1},
		{"GET", "/items/new", 2},
		{"DELETE", "/items/42", 3},
		{"DELETE", "/items", -2},
		{"PATCH", "/other", -1},
		{"PUT", "/items/nope/deeper", -1},
		{"GET", "/items/42/parts", -1},
		{"GET", "/files/a/b/c", 4},
		{"GET", "/files", 4},
		{"POST", "/", 5},
		{"GET", "/items/a%20b", 1},
		{"GET", "/other", -1},
		// Loose matches, all rules alike here: the exact match is kept.
		{"GET", "/ITEMS", 0},
		{"GET", "/Items/42", 1},
		{"GET", "/items.json", 0},
		{"GET", "/items/NEW", 1},
		{"GET", "/FILES/x", 4},
	}
	for _, tc := range tests {
		got, declared := MatchEndpoint(eps, tc.method, tc.path)
		switch {
		case tc.want == -1 && got != nil:
			t.Errorf("%s %s matched %+v, want none", tc.method, tc.path, *got)
		case tc.want == -2 && (got == nil || got.Method != tc.method || got.IsPublic):
			t.Errorf("%s %s matched %+v, want the path's rule for an undeclared method", tc.method, tc.path, got)
		case tc.want >= 0 && got != &eps[tc.want]:
			t.Errorf("%s %s matched %+v, want %+v", tc.method, tc.path, got, eps[tc.want])
		case declared != (tc.want >= 0):
			t.Errorf("%s %s declared = %v", tc.method, tc.path, declared)
		}
	}
}

// TestMatchEndpointAsLenientRoutersSeeIt performs finding 4 of issue 11:
// POST /ADMIN, /Admin, /admin.json and DELETE /Items/1 reached the plugin
// with "any authenticated caller" although POST /admin and DELETE
// /items/{id} require roles, because the lookup compared templates
// literally.
func TestMatchEndpointAsLenientRoutersSeeIt(t *testing.T) {
	admin := []string{"tenant_admin"}
	eps := []registry.Endpoint{
		{Method: "GET", Path: "/items/{id}"},
		{Method: "DELETE", Path: "/items/{id}", RequiredRoles: admin},
		{Method: "POST", Path: "/admin", RequiredRoles: admin},
		{Method: "GET", Path: "/admin", RequiredRoles: []string{"user", "tenant_admin"}},
		{Method: "GET", Path: "/open", IsPublic: true},
		{Method: "GET", Path: "/doc"},
		{Method: "GET", Path: "/reports/new", IsPublic: true},
		{Method: "GET", Path: "/reports/{id}", RequiredRoles: admin},
		{Method: "GET", Path: "/export/{id}", IsPublic: true},
		{Method: "GET", Path: "/export/all", RequiredRoles: admin},
	}
	const (
		public   = "public"
		anyone   = "any identity"
		useDflt  = "service default"
		tenantAd = "tenant_admin"
		userOrTA = "user,tenant_admin"
	)
	tests := []struct {
		method, path string
		want         string
		declared     bool
	}{
		{"POST", "/admin", tenantAd, true},
		{"POST", "/ADMIN", tenantAd, true},
		{"POST", "/Admin", tenantAd, true},
		{"POST", "/admin/", tenantAd, true},
		{"POST", "/admin.json", tenantAd, true},
		{"POST", "/Admin.x.y", tenantAd, true},
		{"POST", "/%41dmin", tenantAd, true},
		// Java's equalsIgnoreCase (Spring with case-insensitive matching)
		// also takes dotless ı and dotted İ for i: their simple upper or
		// lower case is I or i, though Unicode folding keeps them apart.
		{"POST", "/adm\u0131n", tenantAd, true},
		{"POST", "/adm%C4%B1n", tenantAd, true},
		{"POST", "/ADM\u0130N.json", tenantAd, true},
		{"PUT", "/adm\u0131n", tenantAd, false},
		{"DELETE", "/Items/1", tenantAd, true},
		{"DELETE", "/ITEMS/1/", tenantAd, true},
		{"GET", "/ADMIN", userOrTA, true},
		{"GET", "/items/1", anyone, true},
		// An undeclared method gets the strictest rule of the path's
		// templates, loosely matched too; never public.
		{"PUT", "/admin", tenantAd, false},
		{"PUT", "/ADMIN.json", tenantAd, false},
		{"PATCH", "/items/1", tenantAd, false},
		{"DELETE", "/open", anyone, false},
		{"DELETE", "/OPEN", anyone, false},
		{"POST", "/doc", anyone, false},
		// A literal beats a template when both match as sent; a loose-only
		// match can only make the rule stricter.
		{"GET", "/reports/new", public, true},
		{"GET", "/reports/7", tenantAd, true},
		{"GET", "/reports/NEW", tenantAd, true},
		{"GET", "/export/7", public, true},
		{"GET", "/export/all", tenantAd, true},
		{"GET", "/export/ALL", tenantAd, true},
		{"GET", "/export/all.csv", tenantAd, true},
		// The suffix only counts on the last segment, and needs the dot.
		{"POST", "/admin.json/x", useDflt, false},
		{"POST", "/adminx", useDflt, false},
		{"POST", "/xadmin.json", useDflt, false},
		{"GET", "/nowhere", useDflt, false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			ep, declared := MatchEndpoint(eps, tc.method, tc.path)
			got := useDflt
			switch {
			case ep == nil:
			case ep.IsPublic:
				got = public
			case len(ep.RequiredRoles) == 0:
				got = anyone
			default:
				got = strings.Join(ep.RequiredRoles, ",")
			}
			if got != tc.want || declared != tc.declared {
				t.Fatalf("got %s (declared %v), want %s (declared %v); endpoint %+v", got, declared, tc.want, tc.declared, ep)
			}
		})
	}
}

// FuzzMatchTemplate holds matchTemplate, which walks both paths without
// allocating, to a plain split-and-compare version of the same rules.
func FuzzMatchTemplate(f *testing.F) {
	for _, s := range [][2]string{{"/items/{id}", "/items/42"}, {"/files/{p...}", "/files"}, {"/a/*", "/a/b/c"},
		{"/a/*/b", "/a/*/b"}, {"//x//{y}/", "/x/%41/"}, {"/", "/"}, {"/a%20b", "/a b"}, {"/{x...}/y", "/q/y"},
		{"/admin", "/ADMIN"}, {"/admin", "/admin.json"}, {"/a/admin", "/A/Admin.x.y/"}, {"/admin", "/admin.json/x"},
		{"/k", "/\u212a"}, {"/admin", "/adm\u0131n"}, {"/admin", "/ADM\u0130N.x"}, {"/\u0131", "/\u0130"}, {"/\xff", "/\xfe"}, {"/a.b", "/A.B.c"}, {"/files/{p...}", "/FILES.json"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tmpl, rest string) {
		score, m := matchTemplate(tmpl, rest)
		rscore, rm := matchTemplateReference(splitPathReference(tmpl), splitPathReference(rest))
		if score != rscore || m != rm {
			t.Fatalf("matchTemplate(%q, %q) = %d, %v; the plain version says %d, %v", tmpl, rest, score, m, rscore, rm)
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

func matchTemplateReference(tmpl, segs []string) (int, match) {
	score, m := 0, matchExact
	for i, t := range tmpl {
		wild := t == "*" || (strings.HasPrefix(t, "{") && strings.HasSuffix(t, "...}"))
		if wild && i == len(tmpl)-1 {
			if len(segs) < i {
				return 0, noMatch
			}
			return score, m
		}
		if i >= len(segs) {
			return 0, noMatch
		}
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			continue
		}
		s := segs[i]
		switch {
		case t == s:
		case foldEqualReference(t, s):
			m = matchLoose
		case i == len(segs)-1 && suffixedReference(s, t):
			m = matchLoose
		default:
			return 0, noMatch
		}
		score++
	}
	if len(segs) != len(tmpl) {
		return 0, noMatch
	}
	return score, m
}

// suffixedReference: s split at its dots has a prefix of parts that is t
// in any case, followed by at least one more part.
func suffixedReference(s, t string) bool {
	parts := strings.Split(s, ".")
	for n := 1; n < len(parts); n++ {
		if foldEqualReference(strings.Join(parts[:n], "."), t) {
			return true
		}
	}
	return false
}

// foldEqualReference: a and b, cut into runes (a byte that is not UTF-8
// is a unit of its own, equal only to itself), pair up so that each pair
// is equal under Unicode folding or under Java's equalsIgnoreCase.
func foldEqualReference(a, b string) bool {
	units := func(s string) (out []string) {
		for s != "" {
			_, n := utf8.DecodeRuneInString(s)
			out, s = append(out, s[:n]), s[n:]
		}
		return out
	}
	ua, ub := units(a), units(b)
	if len(ua) != len(ub) {
		return false
	}
	for i := range ua {
		x, y := ua[i], ub[i]
		rx, _ := utf8.DecodeRuneInString(x)
		ry, _ := utf8.DecodeRuneInString(y)
		switch {
		case x == y:
		case rx == utf8.RuneError || ry == utf8.RuneError:
			return false
		case strings.EqualFold(x, y), unicode.ToUpper(rx) == unicode.ToUpper(ry),
			unicode.ToLower(unicode.ToUpper(rx)) == unicode.ToLower(unicode.ToUpper(ry)):
		default:
			return false
		}
	}
	return true
}

// BenchmarkMatchEndpoint prices the policy lookup plugboard_route does on
// every request, against a service with a handful of endpoints.
func BenchmarkMatchEndpoint(b *testing.B) {
	eps := []registry.Endpoint{
		{Method: "GET", Path: "/items"},
		{Method: "POST", Path: "/items"},
		{Method: "GET", Path: "/items/{id}"},
		{Method: "DELETE", Path: "/items/{id}", RequiredRoles: []string{"tenant_admin"}},
		{Method: "GET", Path: "/health", IsPublic: true},
		{Method: "POST", Path: "/admin", RequiredRoles: []string{"tenant_admin"}},
		{Method: "GET", Path: "/files/{path...}"},
	}
	for _, bc := range []struct{ name, method, path string }{
		{"declared", "GET", "/items/42"},
		{"literal", "GET", "/health"},
		{"undeclared", "GET", "/other/path"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				MatchEndpoint(eps, bc.method, bc.path)
			}
		})
	}
}
