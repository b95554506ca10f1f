// Package pathguard is the plugboard_path_guard Caddy handler: it refuses
// (400) a request whose path holds a "." or ".." segment — plain or
// percent-encoded, since the path is checked decoded, and also with a
// path parameter such as "..;" — before any matcher
// sees its cleaned form, so that /api/a/%2e%2e/%2e%2e/x can never become /x
// and reach another route. It replaces a CEL expression matcher doing the
// same, which cost a CEL evaluation per request.
package pathguard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("plugboard_path_guard", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		var g Handler
		return g, g.UnmarshalCaddyfile(h.Dispenser)
	})
	// Order, whatever order the packages register in: plugboard_access_log
	// (before tracing), tracing, plugboard_request_id (after tracing), then
	// this guard (before map), so that a refused request has an ID and a
	// log line.
	httpcaddyfile.RegisterDirectiveOrder("plugboard_path_guard", httpcaddyfile.Before, "map")
}

// Handler refuses dot segments. It has no options.
type Handler struct{}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_path_guard", New: func() caddy.Module { return new(Handler) }}
}

// errDotSegment is the refusal. Its text goes to the access log; it is
// not a dynamicupstreams.PublicError, so the client's problem+json carries
// the renderer's generic detail for a 400.
var errDotSegment = errors.New("The path holds a . or .. segment (or ..;).")

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if HasDotSegment(r.URL.Path) {
		return caddyhttp.Error(http.StatusBadRequest, errDotSegment)
	}
	return next.ServeHTTP(w, r)
}

// HasDotSegment reports whether the decoded path p has a "." or ".."
// segment, also with a path parameter: servlet containers (Tomcat, Jetty)
// drop ";…" from a segment before resolving dot segments, so "/a/..;/b"
// climbs there.
func HasDotSegment(p string) bool {
	for len(p) > 0 {
		var seg string
		seg, p, _ = strings.Cut(p, "/")
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler:
//
//	plugboard_path_guard
func (Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.ArgErr()
	}
	return nil
}

var (
	_ caddyhttp.MiddlewareHandler = Handler{}
	_ caddyfile.Unmarshaler       = Handler{}
)
