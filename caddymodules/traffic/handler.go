// Package traffic counts the gateway's plugin traffic and serves it: the
// plugboard_traffic handler records, for every request routed to a plugin
// service, its service, the caller's tenant, the version that served it
// (gatewayctx.Resolved.Version, which dynamic_upstreams sets under the
// service's routing rules; "" without them), its status class and its
// latency in one-minute windows kept for an hour; the plugboard_traffic_api
// handler serves GET /api/gateway/traffic, the last hour's aggregate per
// service (with by=version, per version of each service too: the live
// traffic split), to super_admins (every tenant) and tenant_admins (their
// own); and the plugboard_traffic app holds the figures and, with Redis,
// merges every gateway's.
//
// Counting costs a map lookup and four atomic adds per request, with no
// allocation and no lock (a new window or a new service and tenant pair
// takes one). With Redis, each gateway adds what it counted to per-minute
// hashes every flush_interval in one round trip, and the API reads the
// merged hashes; when Redis is down it answers with its own figures
// ("scope": "local").
package traffic

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler records every request that reaches a plugin service: one that
// plugboard_route resolved (it sets the service variable), whatever
// happened next — jwt_auth's refusals count as that service's 4xx. Place
// it outside the route that resolves services (the directive is ordered
// first, beside plugboard_access_log) so that it sees the variables once
// the response is done. Requests to no plugin (the platform's APIs, the
// console, unknown services) are not counted.
//
// The status is the error's (handler errors, which handle_errors renders)
// or else reverse_proxy's response status; the latency runs from this
// handler until the response was written.
type Handler struct {
	rec *Recorder
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_traffic", New: func() caddy.Module { return new(Handler) }}
}

// Provision loads the plugboard_traffic app.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := ctx.App(AppName)
	if err != nil {
		return err
	}
	h.rec = app.(*App).engine.rec
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	err := next.ServeHTTP(w, r)
	d := time.Since(start) // the monotonic clock only: cheaper than a second time.Now
	vars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	service, _ := vars[varService].(string)
	if service == "" {
		return err
	}
	tenant, _ := vars[varTenant].(string)
	var version string
	if res, _ := vars[varResolved].(*gatewayctx.Resolved); res != nil {
		version = res.Version
	}
	h.rec.Record(service, tenant, version, statusOf(r, err), d, start.Add(d))
	return err
}

// statusOf returns the status of r's response: err's, reverse_proxy's,
// or 200.
func statusOf(r *http.Request, err error) int {
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			return he.StatusCode
		}
		return http.StatusInternalServerError
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if v, ok := repl.Get("http.reverse_proxy.status_code"); ok {
			if s, ok := v.(int); ok {
				return s
			}
		}
	}
	return http.StatusOK
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
