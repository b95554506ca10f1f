package dynamicupstreams

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/registry"
)

func init() {
	caddy.RegisterModule(Upstreams{})
}

// Upstreams is the reverse_proxy upstream source of a Plugboard service:
// the routable instances of the service plugboard_route resolved, read from
// the registry snapshot in memory (no I/O on the request path). Each call
// returns fresh Upstream values in a stable order. On a retry, ResetCache
// leaves out the instance that just failed: for the rest of the request,
// and (ejected) for the app's EjectFor in every request, unless no other
// instance is left.
//
// It also sets the Host the instance receives: its own host:port, or the
// client's for a service in plugboard_route's preserve_host (gatewayctx.VarHost). It
// does so on reverse_proxy's copy of the request, which GetUpstreams gets
// after X-Forwarded-Host was set and before every try: an empty Host makes
// Go's client send the dial address. That costs nothing per request, where
// a `header_up Host …` costs a copy of every header per try; but any
// header_up makes reverse_proxy put the client's Host back before each try,
// so Provision refuses a reverse_proxy with header_up that does not set
// Host (`header_up Host {vars.pb_host}` keeps this behaviour).
type Upstreams struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (Upstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.dynamic_upstreams",
		New: func() caddy.Module { return new(Upstreams) },
	}
}

// Provision finds the registry app.
func (u *Upstreams) Provision(ctx caddy.Context) error {
	app, err := ctx.App(AppName)
	if err != nil {
		return fmt.Errorf("dynamic_upstreams needs the %s app: %w", AppName, err)
	}
	u.app = app.(*App)
	mods := ctx.Modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if h, ok := mods[i].(*reverseproxy.Handler); ok {
			if h.Headers != nil && h.Headers.Request != nil && !setsHost(h.Headers.Request) {
				return errors.New("dynamic_upstreams: reverse_proxy's header_up sets the client's Host back before each try; " +
					"add `header_up Host {vars.pb_host}` so that instances keep receiving their own host:port")
			}
			break
		}
	}
	return nil
}

// setsHost reports whether ops set the Host header.
func setsHost(ops *headers.HeaderOps) bool {
	for k := range ops.Set {
		if strings.EqualFold(k, "Host") {
			return true
		}
	}
	return false
}

// GetUpstreams implements reverseproxy.UpstreamSource.
func (u *Upstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	name, _ := caddyhttp.GetVar(r.Context(), gatewayctx.VarService).(string)
	if name == "" {
		return nil, fmt.Errorf("dynamic_upstreams: no %s var; put plugboard_route before reverse_proxy", gatewayctx.VarService)
	}
	r.Host, _ = caddyhttp.GetVar(r.Context(), gatewayctx.VarHost).(string) // reverse_proxy's copy; see Upstreams
	snap := u.app.Snapshot()
	if snap == nil || snap.Services[name] == nil {
		return nil, nil
	}
	svc := snap.Services[name]
	dials := svc.Dials
	failed, _ := caddyhttp.GetVar(r.Context(), varFailed).(map[string]bool)
	now := time.Now()
	if rules := u.app.routing(name); rules != nil && len(svc.Versions) > 0 {
		dials = u.chooseVersion(r, svc, rules, failed, now)
	}
	ups := make([]*reverseproxy.Upstream, 0, len(dials))
	for _, d := range dials {
		if !failed[d] && !u.app.isEjected(d, now) {
			ups = append(ups, &reverseproxy.Upstream{Dial: d})
		}
	}
	if len(ups) == 0 { // every instance failed once: let passive health decide
		for _, d := range dials {
			ups = append(ups, &reverseproxy.Upstream{Dial: d})
		}
	}
	return ups, nil
}

// chooseVersion returns the dials of the version the service's rules pick
// for r (registry.Choose; a version is live while one of its instances
// has neither failed during this request nor been ejected), and says on
// the response which version serves, and which the rules chose when it
// could not. It returns every dial when no version is live.
func (u *Upstreams) chooseVersion(r *http.Request, svc *Service, rules *registry.RoutingRules, failed map[string]bool, now time.Time) []string {
	ctx := r.Context()
	res := gatewayctx.ResolvedFrom(ctx)
	f := registry.RouteFacts{Service: svc.Name, Rand: rand.Uint64()}
	f.UserID, _ = caddyhttp.GetVar(ctx, gatewayctx.VarUserID).(string)
	f.Tenant, _ = caddyhttp.GetVar(ctx, gatewayctx.VarTenantID).(string)
	if res != nil {
		f.Pin = res.Pin
	}
	live := func(v string) bool {
		for _, d := range svc.ByVersion[v] {
			if !failed[d] && !u.app.isEjected(d, now) {
				return true
			}
		}
		return false
	}
	c := registry.Choose(rules, f, svc.Versions, live)
	if res != nil {
		res.Version = c.Version
	}
	if res != nil && res.ResponseHeader != nil {
		h := res.ResponseHeader
		if c.Version != "" {
			h.Set(registry.VersionHeader, c.Version)
		} else {
			h.Del(registry.VersionHeader)
		}
		if c.Fallback {
			wanted := c.Wanted
			if wanted == "" {
				wanted = "none"
			}
			h.Set(registry.FallbackHeader, wanted)
		} else {
			h.Del(registry.FallbackHeader)
		}
	}
	if c.Version == "" {
		return svc.Dials
	}
	return svc.ByVersion[c.Version]
}

// ResetCache implements reverseproxy.CachingUpstreamSource: reverse_proxy
// calls it before a retry, and the instance it tried last is left out.
func (u *Upstreams) ResetCache(r *http.Request) error {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return nil
	}
	last, _ := repl.GetString("http.reverse_proxy.upstream.hostport")
	if last == "" {
		return nil
	}
	failed, _ := caddyhttp.GetVar(r.Context(), varFailed).(map[string]bool)
	if failed == nil {
		failed = map[string]bool{}
		caddyhttp.SetVar(r.Context(), varFailed, failed)
	}
	failed[last] = true
	u.app.eject(last)
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner                  = (*Upstreams)(nil)
	_ reverseproxy.CachingUpstreamSource = (*Upstreams)(nil)
)
