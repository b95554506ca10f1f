// Package requestid is the plugboard_request_id Caddy handler: every
// request gets an X-Request-Id — the client's when it is sane, a new random
// one otherwise — on the request (so upstreams and logs see it) and on the
// response. It does in one step what request_header with a matcher plus a
// deferred header directive would, without wrapping the response writer.
package requestid

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("plugboard_request_id", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		var r Handler
		return r, r.UnmarshalCaddyfile(h.Dispenser)
	})
	// Right after tracing and before plugboard_path_guard (see there).
	httpcaddyfile.RegisterDirectiveOrder("plugboard_request_id", httpcaddyfile.After, "tracing")
}

// Header is the request-ID header (gatewayctx.HeaderRequestID).
const Header = gatewayctx.HeaderRequestID

// Handler sets X-Request-Id. It has no options.
type Handler struct{}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_request_id", New: func() caddy.Module { return new(Handler) }}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id := r.Header.Get(Header)
	if !sane(id) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
		r.Header.Set(Header, id)
	}
	w.Header().Set(Header, id)
	return next.ServeHTTP(w, r)
}

// sane accepts 1-128 printable ASCII characters, as the services do.
func sane(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler:
//
//	plugboard_request_id
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
