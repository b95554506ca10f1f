// Package problem is the plugboard_problem Caddy handler
// (http.handlers.plugboard_problem): inside handle_errors it renders the
// error being handled as RFC 9457 problem+json, showing the message of a
// gatewayctx.PublicError from any module and a generic text otherwise.
package problem

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"syscall"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/internal/httpx"
)

func init() {
	caddy.RegisterModule(Problem{})
	httpcaddyfile.RegisterHandlerDirective("plugboard_problem", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("plugboard_problem", httpcaddyfile.Before, "respond")
}

// parseCaddyfile sets up the problem renderer (no options):
//
//	plugboard_problem
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	return Problem{}, nil
}

// Problem renders the error handle_errors is handling as RFC 9457
// problem+json, in the same shape as the registry's and core's errors. The
// detail is the error's own message only when the error says it is public
// (gatewayctx.PublicError); otherwise a generic text for the status, so that upstream
// addresses and internal errors never reach clients. A 502 whose cause is
// that no connection could be made (core, the registry or every instance
// refused or did not answer the dial), or that the connection broke before
// any answer (the process was killed mid-request), is answered 503: the
// service is unavailable, not broken. A 503 gets Retry-After: 1 unless it has one.
type Problem struct{}

// CaddyModule returns the Caddy module information.
func (Problem) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_problem", New: func() caddy.Module { return new(Problem) }}
}

// genericDetails are shown for errors without a public message.
var genericDetails = map[int]string{
	400: "The request is malformed.",
	404: "Nothing is here.",
	413: "The request body is too large.",
	502: "The service instance did not answer properly.",
	503: "The service is unavailable right now; try again shortly.",
	504: "The service instance did not answer in time.",
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (Problem) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	status := http.StatusInternalServerError
	detail := ""
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if v, ok := repl.Get("http.error"); ok {
			if err, ok := v.(error); ok {
				var herr caddyhttp.HandlerError
				if errors.As(err, &herr) && herr.StatusCode != 0 {
					status = herr.StatusCode
				}
				var pub gatewayctx.PublicError
				if errors.As(err, &pub) {
					detail = pub.Message
				}
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					status = http.StatusRequestEntityTooLarge
				}
				if status == http.StatusBadGateway && upstreamWentAway(err) {
					status = http.StatusServiceUnavailable
				}
			}
		}
	}
	if detail == "" {
		detail = genericDetails[status]
	}

	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
	// The instance is the path the client asked for: plugboard_route (like
	// Caddy's rewrite) has pointed the request at the service's own path.
	instance := r.URL.Path
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		instance = orig.URL.Path
	}
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(map[string]any{
		"type": httpx.ProblemType(status), "title": http.StatusText(status), "status": status,
		"detail": detail, "instance": instance,
	})
}

var _ caddyhttp.MiddlewareHandler = (*Problem)(nil)

// upstreamWentAway reports whether a proxy error means the upstream was not
// there: the dial failed, or the connection was reset or closed before the
// response headers. An answer the gateway could not parse stays a 502.
func upstreamWentAway(err error) bool {
	var dial reverseproxy.DialError
	return errors.As(err, &dial) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
