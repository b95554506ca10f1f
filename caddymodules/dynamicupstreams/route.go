package dynamicupstreams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/registry"
)

func init() {
	caddy.RegisterModule(Route{})
}

// varFailed holds the dials that failed during this request (the shared
// variables are in gatewayctx).
const varFailed = "pb_failed"

// Route resolves /api/{service}/{path} against the registry snapshot,
// rewrites the request's URI to {base_path}/{path}?{query} (as Caddy's uri
// and rewrite handlers do: in place, the client's original kept for logs)
// and sets gatewayctx.VarService and gatewayctx.VarResolved for reverse_proxy; or it fails with
// 404 (no such service), 503 (no live instance; Retry-After) or 400 (an
// unsafe path).
type Route struct {
	// Prefix is the path prefix before the service name. Default: /api/
	Prefix string `json:"prefix,omitempty"`
	// PreserveHost lists the services whose instances receive the client's
	// Host header. Every other instance receives its own host:port as Host
	// (as Kong's preserve_host=false does), so that a registered address
	// cannot borrow the client's Host to pass a host check of whatever
	// listens there; the client's Host is in X-Forwarded-Host. Default:
	// none. dynamic_upstreams applies it.
	PreserveHost []string `json:"preserve_host,omitempty"`

	app      *App
	keepHost map[string]bool
}

// CaddyModule returns the Caddy module information.
func (Route) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_route", New: func() caddy.Module { return new(Route) }}
}

// Provision finds the registry app.
func (h *Route) Provision(ctx caddy.Context) error {
	if h.Prefix == "" {
		h.Prefix = "/api/"
	}
	app, err := ctx.App(AppName)
	if err != nil {
		return fmt.Errorf("plugboard_route needs the %s app: %w", AppName, err)
	}
	h.app = app.(*App)
	h.keepHost = make(map[string]bool, len(h.PreserveHost))
	for _, name := range h.PreserveHost {
		if !registry.ValidName(name) {
			return fmt.Errorf("plugboard_route: preserve_host: %q is not a service name", name)
		}
		h.keepHost[name] = true
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Route) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	name, rest, err := Resolve(h.Prefix, r.URL.EscapedPath())
	switch {
	case errors.Is(err, errUnsafePath):
		return caddyhttp.Error(http.StatusBadRequest, gatewayctx.PublicError{Message: "The path holds a dot segment, an encoded slash or backslash, a control character, a ; path parameter or a double-encoded character."})
	case err != nil:
		return caddyhttp.Error(http.StatusNotFound, gatewayctx.PublicError{Message: "No service at this path; use " + h.Prefix + "{service}/{path}."})
	}
	var svc *Service
	if snap := h.app.Snapshot(); snap != nil {
		svc = snap.Services[name]
	}
	if svc == nil {
		return caddyhttp.Error(http.StatusNotFound, gatewayctx.PublicError{Message: fmt.Sprintf("No service named %q is registered.", name)})
	}
	if len(svc.Dials) == 0 {
		w.Header().Set("Retry-After", "1")
		return caddyhttp.Error(http.StatusServiceUnavailable, gatewayctx.PublicError{Message: fmt.Sprintf("Service %q has no live instance right now.", name)})
	}
	setPath(r, svc.BasePath+rest)
	ctx := r.Context()
	caddyhttp.SetVar(ctx, gatewayctx.VarService, name)
	res := &gatewayctx.Resolved{Service: name, BasePath: svc.BasePath, Path: rest, UndeclaredPaths: svc.UndeclaredPaths, Metadata: svc.Metadata}
	var declared bool
	res.Endpoint, declared = MatchEndpoint(svc.Endpoints, r.Method, rest)
	res.Undeclared = !declared
	if rules := h.app.routing(name); rules != nil {
		res.Pin = r.Header.Get(rules.PinHeader()) // before the X-Plugboard-* headers go
		res.ResponseHeader = w.Header()
	}
	caddyhttp.SetVar(ctx, gatewayctx.VarResolved, res)
	// No client-sent X-Plugboard-* header reaches a plugin, with jwt_auth in
	// the route or not; the upstream learns which service it is called as.
	for k := range r.Header {
		if hasPrefixFold(k, "X-Plugboard-") {
			delete(r.Header, k)
		}
	}
	sanitizeHops(r)
	r.Header.Set("X-Plugboard-Service", name)
	if h.keepHost[name] {
		caddyhttp.SetVar(ctx, gatewayctx.VarHost, r.Host)
	}
	// (request_body has wrapped even an empty body: ContentLength tells.)
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		err = next.ServeHTTP(w, r)
		h.observe(r, svc, err)
		return err
	}
	body := &clientBody{ReadCloser: r.Body}
	r.Body = body
	bw := &bodyFailWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, body: body}
	err = next.ServeHTTP(bw, r)
	h.observe(r, svc, err)
	if bw.swallowed {
		var tooLarge *http.MaxBytesError
		if errors.As(body.failed.Load(), &tooLarge) {
			return caddyhttp.Error(http.StatusRequestEntityTooLarge, gatewayctx.PublicError{Message: "The request body is larger than this gateway accepts."})
		}
		return caddyhttp.Error(http.StatusBadRequest, gatewayctx.PublicError{Message: "The request body could not be read: broken chunked framing, or the upload was interrupted."})
	}
	return err
}

// observe hands the app the response time of the instance that answered,
// for slow-outlier ejection; a request that failed is not a measure.
func (h *Route) observe(r *http.Request, svc *Service, err error) {
	if err != nil {
		return
	}
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	v, _ := repl.Get("http.reverse_proxy.upstream.latency")
	d, ok := v.(time.Duration)
	if !ok {
		return
	}
	if dial, _ := repl.GetString("http.reverse_proxy.upstream.hostport"); dial != "" {
		h.app.observe(svc, dial, d)
	}
}

// sanitizeHops takes away what a client could use to reach a plugin
// past the gateway's headers or past the gateway itself:
//   - Connection tokens naming a header the gateway sets for the plugin
//     (X-Plugboard-*, X-Request-Id, X-Forwarded-*, Forwarded, Via):
//     reverse_proxy deletes the headers a client's Connection names as
//     hop-by-hop, after jwt_auth has set them;
//   - an upgrade to HTTP/2 or another HTTP version (Upgrade: h2c, …): a
//     plugin answering 101 would open a tunnel in which every further
//     request bypasses jwt_auth. The request goes on as a plain one, as
//     RFC 9113 has a server that does not take the upgrade do. Other
//     upgrades (WebSocket, …) pass;
//   - request trailers, all of them: net/http fills them in when the body
//     ends, after every check ran, and reverse_proxy would send them on
//     (a trailer "X-Plugboard-Roles: super_admin" reached plugins).
func sanitizeHops(r *http.Request) {
	if conn := r.Header["Connection"]; len(conn) > 0 {
		r.Header["Connection"] = keepTokens(conn, func(tok string) bool {
			return !hasPrefixFold(tok, "X-Plugboard-") && !hasPrefixFold(tok, "X-Forwarded-") &&
				!strings.EqualFold(tok, "X-Request-Id") && !strings.EqualFold(tok, "Forwarded") &&
				!strings.EqualFold(tok, "Via")
		})
	}
	if up := r.Header["Upgrade"]; len(up) > 0 {
		for _, tok := range splitTokens(up) {
			if proto, _, _ := strings.Cut(tok, "/"); strings.EqualFold(proto, "h2c") ||
				strings.EqualFold(proto, "h2") || strings.EqualFold(proto, "http") {
				delete(r.Header, "Upgrade")
				delete(r.Header, "Http2-Settings")
				break
			}
		}
	}
	r.Trailer = nil
}

// keepTokens returns the comma-separated tokens of vals that keep accepts,
// as one value; vals itself when it accepts them all.
func keepTokens(vals []string, keep func(string) bool) []string {
	toks := splitTokens(vals)
	kept := toks[:0:0]
	for _, t := range toks {
		if keep(t) {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(toks) {
		return vals
	}
	if len(kept) == 0 {
		return nil
	}
	return []string{strings.Join(kept, ", ")}
}

// splitTokens splits header values into their comma-separated tokens.
func splitTokens(vals []string) []string {
	var toks []string
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				toks = append(toks, t)
			}
		}
	}
	return toks
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// clientBody is a request body on its way to a plugin. A failure to read
// it (the client went away, malformed chunked framing, a body past
// request_body's max_size) is the client's doing, not the instance's:
// clientBodyError tells reverse_proxy so.
type clientBody struct {
	io.ReadCloser
	failed atomic.Pointer[clientBodyError] // the first failure
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		e := &clientBodyError{err}
		b.failed.CompareAndSwap(nil, e)
		return n, e
	}
	return n, err
}

// bodyFailWriter holds back the 499 reverse_proxy answers a client-body
// failure with (a bare status line), so that plugboard_route can answer
// 400 or 413 as problem+json instead.
type bodyFailWriter struct {
	*caddyhttp.ResponseWriterWrapper
	body      *clientBody
	swallowed bool
}

// WriteHeader implements http.ResponseWriter.
func (w *bodyFailWriter) WriteHeader(code int) {
	if code == 499 && w.body.failed.Load() != nil {
		w.swallowed = true
		return
	}
	w.ResponseWriterWrapper.WriteHeader(code)
}

// clientBodyError is a failure to read the client's request body. It
// matches context.Canceled, which reverse_proxy takes as the client's
// failure: no retry, no passive-health failure for the instance (otherwise
// a client could take instances out of rotation with broken bodies), and
// a 499, which plugboard_route turns into a 400 or 413 problem. Net/http's transport returns body read errors as they
// are, ahead of the connection errors they cause.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string        { return "read the client's request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error        { return e.err }
func (e *clientBodyError) Is(target error) bool { return target == context.Canceled }

// setPath points the request at the escaped path p, the query unchanged.
func setPath(r *http.Request, p string) {
	r.URL.Path, r.URL.RawPath = p, ""
	if strings.IndexByte(p, '%') >= 0 {
		if plain, err := url.PathUnescape(p); err == nil { // Resolve checked each segment
			r.URL.Path, r.URL.RawPath = plain, p
		}
	}
	r.RequestURI = r.URL.RequestURI()
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Route)(nil)
	_ caddyhttp.MiddlewareHandler = (*Route)(nil)
)
