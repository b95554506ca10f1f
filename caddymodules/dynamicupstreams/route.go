package dynamicupstreams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/registry"
)

func init() {
	caddy.RegisterModule(Route{})
}

// Variables the route handler sets for the handlers after it; Caddyfiles
// read {vars.pb_service} (a dot-free name, which the {vars.*} shorthand
// needs). Few on purpose: Caddy keeps request variables in a map that
// leaves its cheap small form past eight.
const (
	VarService = "pb_service" // the service name
	// VarResolved holds the *Resolved route, for Go handlers (jwt_auth);
	// read it with ResolvedFrom.
	VarResolved = "pb_resolved"
	varFailed   = "pb_failed" // dials that failed during this request
)

// Resolved is what plugboard_route found for a request.
type Resolved struct {
	Service  string
	BasePath string // the service's base path
	Path     string // the path within the service, as sent
	// Endpoint is the endpoint whose rule applies to the request (see
	// MatchEndpoint); nil when none does.
	Endpoint *registry.Endpoint
	// Undeclared is true when no declared endpoint matches the request's
	// method and path; Endpoint may still carry the strictest rule of the
	// path's other methods.
	Undeclared bool
	// UndeclaredPaths is the service's policy for undeclared requests.
	UndeclaredPaths registry.UndeclaredPaths
	Metadata        json.RawMessage // the service's metadata
}

// ResolvedFrom returns the route plugboard_route resolved for the request
// of ctx, or nil.
func ResolvedFrom(ctx context.Context) *Resolved {
	r, _ := caddyhttp.GetVar(ctx, VarResolved).(*Resolved)
	return r
}

// Route resolves /api/{service}/{path} against the registry snapshot,
// rewrites the request's URI to {base_path}/{path}?{query} (as Caddy's uri
// and rewrite handlers do: in place, the client's original kept for logs)
// and sets VarService and VarResolved for reverse_proxy; or it fails with
// 404 (no such service), 503 (no live instance; Retry-After) or 400 (an
// unsafe path).
type Route struct {
	// Prefix is the path prefix before the service name. Default: /api/
	Prefix string `json:"prefix,omitempty"`

	app *App
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
	return nil
}

// PublicError is an error whose message is safe to show clients; the
// problem renderer shows it as the detail.
type PublicError struct{ Message string }

func (e PublicError) Error() string { return e.Message }

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Route) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	name, rest, err := Resolve(h.Prefix, r.URL.EscapedPath())
	switch {
	case errors.Is(err, errUnsafePath):
		return caddyhttp.Error(http.StatusBadRequest, PublicError{"The path holds a dot segment, an encoded slash or backslash, or a control character."})
	case err != nil:
		return caddyhttp.Error(http.StatusNotFound, PublicError{"No service at this path; use " + h.Prefix + "{service}/{path}."})
	}
	var svc *Service
	if snap := h.app.Snapshot(); snap != nil {
		svc = snap.Services[name]
	}
	if svc == nil {
		return caddyhttp.Error(http.StatusNotFound, PublicError{fmt.Sprintf("No service named %q is registered.", name)})
	}
	if len(svc.Dials) == 0 {
		w.Header().Set("Retry-After", "1")
		return caddyhttp.Error(http.StatusServiceUnavailable, PublicError{fmt.Sprintf("Service %q has no live instance right now.", name)})
	}
	setPath(r, svc.BasePath+rest)
	ctx := r.Context()
	caddyhttp.SetVar(ctx, VarService, name)
	res := &Resolved{Service: name, BasePath: svc.BasePath, Path: rest, UndeclaredPaths: svc.UndeclaredPaths, Metadata: svc.Metadata}
	var declared bool
	res.Endpoint, declared = MatchEndpoint(svc.Endpoints, r.Method, rest)
	res.Undeclared = !declared
	caddyhttp.SetVar(ctx, VarResolved, res)
	// No client-sent X-Plugboard-* header reaches a plugin, with jwt_auth in
	// the route or not; the upstream learns which service it is called as.
	for k := range r.Header {
		if len(k) > 12 && strings.EqualFold(k[:12], "X-Plugboard-") {
			delete(r.Header, k)
		}
	}
	r.Header.Set("X-Plugboard-Service", name)
	return next.ServeHTTP(w, r)
}

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
