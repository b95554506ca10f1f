package dynamicupstreams

import (
	"net/url"
	"strings"

	"github.com/plugboard/plugboard/registry"
)

// MatchEndpoint returns the endpoint whose method and path template match a
// request to a service, or nil. rest is the escaped path within the service
// (as Resolve returns it). A template segment {name} matches any one
// segment; a trailing {name...} or * matches the rest. Literal segments beat
// templates: among matches, the one with the most literal segments wins, so
// /items/new is chosen over /items/{id}. HEAD matches a GET endpoint.
//
// A method the service did not declare on a declared path does not fall
// back to "any identity": it gets the path's strictest declared policy —
// the smallest non-empty required_roles among the path's endpoints, never
// public — so that PUT /admin cannot slip past a role POST /admin requires.
func MatchEndpoint(endpoints []registry.Endpoint, method, rest string) *registry.Endpoint {
	var best, strictest *registry.Endpoint
	bestScore := -1
	for i := range endpoints {
		e := &endpoints[i]
		score, ok := matchTemplate(e.Path, rest)
		if !ok {
			continue
		}
		if e.Method != method && !(method == "HEAD" && e.Method == "GET") {
			if len(e.RequiredRoles) > 0 && (strictest == nil || len(e.RequiredRoles) < len(strictest.RequiredRoles)) {
				strictest = e
			}
			continue
		}
		if score > bestScore {
			best, bestScore = e, score
		}
	}
	if best == nil && strictest != nil {
		return &registry.Endpoint{Path: strictest.Path, Method: method, RequiredRoles: strictest.RequiredRoles}
	}
	return best
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

// matchTemplate reports whether the path rest fits the template tmpl and
// how many literal segments matched, walking both segment by segment.
func matchTemplate(tmpl, rest string) (int, bool) {
	score, ti, ri := 0, 0, 0
	for {
		t, tn := nextSegment(tmpl, ti)
		if t == "" {
			s, _ := nextSegment(rest, ri)
			return score, s == ""
		}
		if t == "*" || (strings.HasPrefix(t, "{") && strings.HasSuffix(t, "...}")) {
			if more, _ := nextSegment(tmpl, tn); more == "" {
				return score, true // a trailing wildcard takes the rest, even nothing
			}
		}
		s, rn := nextSegment(rest, ri)
		if s == "" {
			return 0, false
		}
		if !(strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}")) {
			if t != s {
				return 0, false
			}
			score++
		}
		ti, ri = tn, rn
	}
}
