package dynamicupstreams

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/plugboard/plugboard/registry"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		path, service, rest string
		err                 error
	}{
		{"/api/orders/items/42", "orders", "/items/42", nil},
		{"/api/orders", "orders", "/", nil},
		{"/api/orders/", "orders", "/", nil},
		{"/api/orders/items/", "orders", "/items/", nil},
		{"/api/orders//items///42", "orders", "/items/42", nil},
		{"//api/orders", "", "", errNotAPI},
		{"/api//orders/x", "orders", "/x", nil},
		{"/api/orders/a%20b", "orders", "/a%20b", nil},
		{"/api/orders/%E2%9C%93", "orders", "/%E2%9C%93", nil},
		{"/api/", "", "", errNotAPI},
		{"/api", "", "", errNotAPI},
		{"/other/orders", "", "", errNotAPI},
		{"/api/Orders/x", "", "", errNotAPI},
		{"/api/orders/../users/1", "", "", errUnsafePath},
		{"/api/orders/%2e%2e/users", "", "", errUnsafePath},
		{"/api/orders/%2E%2E/users", "", "", errUnsafePath},
		{"/api/orders/.%2e/x", "", "", errUnsafePath},
		{"/api/orders/./x", "", "", errUnsafePath},
		{"/api/../registry/services", "", "", errUnsafePath},
		{"/api/orders/a%2fb", "", "", errUnsafePath},
		{"/api/orders%2f..%2fusers", "", "", errUnsafePath},
		{"/api/orders/a%5cb", "", "", errUnsafePath},
		{`/api/orders/a\..\b`, "", "", errUnsafePath},
		{"/api/orders/a%00b", "", "", errUnsafePath},
		{"/api/orders/a%0ab", "", "", errUnsafePath},
		{"/api/orders/%zz", "", "", errUnsafePath},
		// Servlet path parameters and double encoding (issue 11, findings 4 and 11).
		{"/api/orders/..;/x", "", "", errUnsafePath},
		{"/api/orders/admin;x=1", "", "", errUnsafePath},
		{"/api/orders/a/;/b", "", "", errUnsafePath},
		{"/api/orders/admin%3bx=1", "", "", errUnsafePath},
		{"/api/orders/%2e%2e%3B/x", "", "", errUnsafePath},
		{"/api/orders;x/items", "", "", errUnsafePath},
		{"/api/orders/%2561dmin", "", "", errUnsafePath},
		{"/api/orders/%252e%252e/x", "", "", errUnsafePath},
		{"/api/orders/a%25Fb", "", "", errUnsafePath},
		{"/api/orders/100%25", "orders", "/100%25", nil},
		{"/api/orders/50%25off", "orders", "/50%25off", nil},
		{"/api/orders/%25%25", "orders", "/%25%25", nil},
	}
	for _, tc := range tests {
		service, rest, err := Resolve("/api/", tc.path)
		if err != tc.err || service != tc.service || rest != tc.rest {
			t.Errorf("Resolve(%q) = %q, %q, %v; want %q, %q, %v", tc.path, service, rest, err, tc.service, tc.rest, tc.err)
		}
	}
}

// servicePattern is the registry's rule for names, which registry.ValidName
// implements by hand.
var servicePattern = regexp.MustCompile(registry.NamePattern)

// doubleEncoded finds a percent escape left in a segment decoded once.
var doubleEncoded = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// FuzzResolve checks the property that matters: whatever Resolve accepts,
// the upstream path (base path + rest, decoded and cleaned the way a
// backend would) stays under the base path, and the service is the first
// segment of the cleaned request path.
//
//	go test ./caddymodules/dynamicupstreams -fuzz FuzzResolve
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"/api/orders/items/42", "/api/orders/", "/api/orders//", "/api//orders/x/", "/api/o/x//",
		"/api//", "/api/", "/api/o/%41b/", "/api/a/..", "/api/a/%2e%2e/b", "/api/a//b", `/api/a/\b`,
		"/api/a/%2f", "/api/a/b%00", "/api/x/.%2E/y/", "/api/svc/%252e%252e", "/api/s/..;/x", "/api/s/a%3b",
		"/api/s/%2561", "/api/s/100%25", "/api/s/%25%2541"} {
		f.Add(s)
	}
	const base = "/v1/base"
	f.Fuzz(func(t *testing.T, p string) {
		service, rest, err := Resolve("/api/", p)
		if rs, rr, rerr := resolveReference("/api/", p); rs != service || rr != rest || rerr != err {
			t.Fatalf("Resolve(%q) = %q, %q, %v; the plain version says %q, %q, %v", p, service, rest, err, rs, rr, rerr)
		}
		if err != nil {
			return
		}
		if !servicePattern.MatchString(service) {
			t.Fatalf("service %q is not a service name", service)
		}
		upstream := base + rest
		decoded, derr := url.PathUnescape(upstream)
		if derr != nil {
			t.Fatalf("Resolve accepted %q but the upstream path %q does not decode", p, upstream)
		}
		if cleaned := path.Clean(decoded); cleaned != base && !strings.HasPrefix(cleaned, base+"/") {
			t.Fatalf("Resolve(%q): upstream %q cleans to %q, outside %s", p, upstream, cleaned, base)
		}
		if strings.ContainsAny(decoded, "\\\x00") {
			t.Fatalf("Resolve(%q): upstream %q holds a backslash or NUL", p, decoded)
		}
		if strings.Contains(decoded, "/../") || strings.HasSuffix(decoded, "/..") {
			t.Fatalf("Resolve(%q): upstream %q holds a dot-dot segment", p, decoded)
		}
		// A plugin's router sees what the policy lookup saw: no path
		// parameter, and nothing a second decoding would change.
		if strings.Contains(decoded, ";") {
			t.Fatalf("Resolve(%q): upstream %q holds a ; path parameter", p, decoded)
		}
		if twice, err := url.PathUnescape(decoded); err == nil && twice != decoded {
			t.Fatalf("Resolve(%q): upstream %q decodes again to %q", p, decoded, twice)
		}
	})
}

// resolveReference is Resolve written plainly (split, check, join), as it
// was before Resolve learnt to allocate nothing on the common path;
// FuzzResolve holds the two to the same answers.
func resolveReference(prefix, escapedPath string) (service, rest string, err error) {
	if !strings.HasPrefix(escapedPath, prefix) {
		return "", "", errNotAPI
	}
	var segs []string
	for _, seg := range strings.Split(escapedPath[len(prefix):], "/") {
		if seg == "" {
			continue
		}
		plain, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", errUnsafePath
		}
		if plain == "." || plain == ".." || strings.ContainsAny(plain, `/\;`) ||
			strings.ContainsFunc(plain, unicode.IsControl) || strings.ContainsAny(seg, `\;`) ||
			doubleEncoded.MatchString(plain) {
			return "", "", errUnsafePath
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return "", "", errNotAPI
	}
	service = segs[0]
	if !registry.ValidName(service) {
		return "", "", errNotAPI
	}
	rest = "/" + strings.Join(segs[1:], "/")
	if len(segs) > 1 && strings.HasSuffix(escapedPath, "/") {
		rest += "/"
	}
	return service, rest, nil
}

func BenchmarkResolve(b *testing.B) {
	for b.Loop() {
		Resolve("/api/", "/api/orders/items/42")
	}
}
