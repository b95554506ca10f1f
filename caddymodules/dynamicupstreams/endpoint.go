package dynamicupstreams

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/plugboard/plugboard/registry"
)

// MatchEndpoint finds the policy for a request to a service: the endpoint
// whose rule applies, and whether the request's method and path match a
// declared endpoint at all. rest is the escaped path within the service (as
// Resolve returns it).
//
// Templates: a segment {name} matches any one segment; a trailing
// {name...} or * matches the rest, even nothing. Empty segments (a
// trailing slash, doubled slashes) are ignored. HEAD matches a GET
// endpoint.
//
// A template matches exactly when every literal segment is equal as sent
// (percent-decoded). Among exact matches for the method, the one with the
// most literal segments wins, so /items/new is chosen over /items/{id}.
//
// The lookup also sees the path as a lenient plugin router may: a literal
// segment matches in any case (Express, ASP.NET), and the request's last
// segment may carry a suffix starting at a dot (Spring's suffix match:
// /admin.json and /admin.x.y match /admin). Such loose matches never
// loosen the policy: the result is the strictest (see stricter) of the
// best exact match and every loose-only match for the method.
//
// When nothing matches for the method, the request is undeclared
// (declared is false). If templates of other methods match it (exactly or
// loosely), it does not fall back to the service's default: ep is a
// synthesized endpoint with the strictest of their rules, never public —
// the smallest non-empty required_roles among them, or any authenticated
// caller — so that PUT /admin cannot slip past a role POST /admin
// requires. Otherwise ep is nil.
//
// It allocates only to decode a percent-encoded segment or to synthesize
// an undeclared method's endpoint.
func MatchEndpoint(endpoints []registry.Endpoint, method, rest string) (ep *registry.Endpoint, declared bool) {
	var exact, loose, other *registry.Endpoint
	bestScore := -1
	for i := range endpoints {
		e := &endpoints[i]
		score, m := matchTemplate(e.Path, rest)
		switch {
		case m == noMatch:
		case e.Method != method && !(method == "HEAD" && e.Method == "GET"):
			if other == nil || stricter(e, other) {
				other = e
			}
		case m == matchExact:
			if score > bestScore {
				exact, bestScore = e, score
			}
		case loose == nil || stricter(e, loose):
			loose = e
		}
	}
	switch {
	case exact != nil && loose != nil && stricter(loose, exact):
		return loose, true
	case exact != nil:
		return exact, true
	case loose != nil:
		return loose, true
	case other != nil:
		return &registry.Endpoint{Path: other.Path, Method: method, RequiredRoles: other.RequiredRoles}, false
	}
	return nil, false
}

// stricter reports whether a's rule admits fewer callers than b's, ranking
// public below any authenticated caller below required roles, and a
// smaller non-empty role set above a larger one.
func stricter(a, b *registry.Endpoint) bool {
	ra, rb := strictness(a), strictness(b)
	if ra != rb {
		return ra > rb
	}
	return ra == 2 && len(a.RequiredRoles) < len(b.RequiredRoles)
}

func strictness(e *registry.Endpoint) int {
	switch {
	case len(e.RequiredRoles) > 0:
		return 2
	case e.IsPublic:
		return 0
	}
	return 1
}

// nextSegment returns the first non-empty segment of p at or after i,
// decoded, and where the one after it starts; "" when there is none. It
// allocates only to decode a percent-encoded segment.
func nextSegment(p string, i int) (string, int) {
	for i < len(p) && p[i] == '/' {
		i++
	}
	if i >= len(p) {
		return "", i
	}
	j := strings.IndexByte(p[i:], '/')
	if j < 0 {
		j = len(p) - i
	}
	seg := p[i : i+j]
	if strings.IndexByte(seg, '%') >= 0 {
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
	}
	return seg, i + j
}

// How a template matches a path.
type match int

const (
	noMatch    match = iota
	matchLoose       // only with case folding or a dot suffix on the last segment
	matchExact       // every literal segment equal
)

// matchTemplate reports how the path rest fits the template tmpl and how
// many literal segments matched, walking both segment by segment.
func matchTemplate(tmpl, rest string) (int, match) {
	score, ti, ri, m := 0, 0, 0, matchExact
	for {
		t, tn := nextSegment(tmpl, ti)
		if t == "" {
			if s, _ := nextSegment(rest, ri); s != "" {
				return 0, noMatch
			}
			return score, m
		}
		if t == "*" || (strings.HasPrefix(t, "{") && strings.HasSuffix(t, "...}")) {
			if more, _ := nextSegment(tmpl, tn); more == "" {
				return score, m // a trailing wildcard takes the rest, even nothing
			}
		}
		s, rn := nextSegment(rest, ri)
		if s == "" {
			return 0, noMatch
		}
		if !(strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}")) {
			switch {
			case t == s:
			case foldEqual(t, s), onlySlashes(rest[rn:]) && dotSuffixed(s, t):
				m = matchLoose
			default:
				return 0, noMatch
			}
			score++
		}
		ti, ri = tn, rn
	}
}

// dotSuffixed reports whether s is lit, in any case, followed by a dot and
// anything: admin.json or ADMIN.x.y for admin.
func dotSuffixed(s, lit string) bool {
	for i := strings.IndexByte(s, '.'); i >= 0; {
		if foldEqual(s[:i], lit) {
			return true
		}
		j := strings.IndexByte(s[i+1:], '.')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// foldEqual reports whether a and b are equal in any case as the most
// lenient router of each kind sees it, rune by rune: Unicode simple
// folding (strings.EqualFold; K and the Kelvin sign), or the same simple
// upper case, or lower case of the upper case, as Java's equalsIgnoreCase
// compares (Spring's case-insensitive matching), which also takes dotless
// ı and dotted İ for i. Bytes that are not UTF-8 must be equal.
func foldEqual(a, b string) bool {
	for a != "" && b != "" {
		if ca, cb := a[0], b[0]; ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			if lc := ca | 0x20; ca != cb && (lc != cb|0x20 || lc < 'a' || lc > 'z') {
				return false // ASCII: letters in either case, the rest as is
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra == utf8.RuneError || rb == utf8.RuneError {
			if a[:na] != b[:nb] {
				return false
			}
		} else if !foldRune(ra, rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return a == b
}

func foldRune(a, b rune) bool {
	if a == b {
		return true
	}
	ua, ub := unicode.ToUpper(a), unicode.ToUpper(b)
	if ua == ub || unicode.ToLower(ua) == unicode.ToLower(ub) {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// onlySlashes reports whether p holds nothing but slashes: no segment.
func onlySlashes(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			return false
		}
	}
	return true
}
