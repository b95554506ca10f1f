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
	segs := splitPath(rest)
	var best, strictest *registry.Endpoint
	bestScore := -1
	for i := range endpoints {
		e := &endpoints[i]
		score, ok := matchTemplate(splitPath(e.Path), segs)
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

func splitPath(p string) []string {
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

// matchTemplate reports whether segs fit tmpl and how many literal
// segments matched.
func matchTemplate(tmpl, segs []string) (int, bool) {
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
