package traffic

import (
	"encoding/json"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption(AppName, parseApp)
	httpcaddyfile.RegisterHandlerDirective("plugboard_traffic", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next() // the directive
		if h.NextArg() || h.NextBlock(0) {
			return nil, h.Err("plugboard_traffic takes no arguments (configure the global option plugboard_traffic)")
		}
		return new(Handler), nil
	})
	// First in the route, beside plugboard_access_log: it must wrap
	// plugboard_route and jwt_auth to read their variables when the
	// response is done, and see the errors they return.
	httpcaddyfile.RegisterDirectiveOrder("plugboard_traffic", httpcaddyfile.Before, "tracing")
	httpcaddyfile.RegisterHandlerDirective("plugboard_traffic_api", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		a := new(API)
		return a, a.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("plugboard_traffic_api", httpcaddyfile.Before, "respond")
}

// parseApp sets up the app from the global option:
//
//	plugboard_traffic {
//		redis          [<url>]     # shared Redis; none or empty: this gateway only
//		prefix         <prefix>    # Redis key prefix; default plugboard:
//		flush_interval <duration>  # how often counts go to Redis; default 2s
//		max_series     <n>         # (service, tenant) pairs kept; default 10000
//	}
func parseApp(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(app)
	if err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: AppName, Value: raw}, nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "redis":
			// No argument is allowed: {$PLUGBOARD_REDIS_URL} unset.
			if d.NextArg() {
				a.Redis = d.Val()
			}
		case "prefix":
			// No argument: the default ({$PLUGBOARD_REDIS_PREFIX} set empty).
			if d.NextArg() {
				a.Prefix = d.Val()
			}
		case "flush_interval":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 {
				return d.Errf("flush_interval %q: want a positive duration such as 2s", d.Val())
			}
			a.FlushInterval = caddy.Duration(v)
		case "max_series":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("max_series %q: want a positive number", d.Val())
			}
			a.MaxSeries = n
		default:
			return d.Errf("unknown option %q (want redis, prefix, flush_interval or max_series)", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler:
//
//	plugboard_traffic_api {
//		core       <url>       # core's base URL; default http://127.0.0.1:8082
//		path       <path>      # the path served; default /api/gateway/traffic
//		auth_cache <duration>  # reuse core's answer about a credential; default 5s (0: never)
//		timeout    <duration>  # bound of the request to core; default 3s
//	}
func (a *API) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "core":
			a.Core = d.Val()
		case "path":
			a.Path = d.Val()
		case "auth_cache", "timeout":
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v < 0 {
				return d.Errf("%s %q: want a duration such as 5s", opt, d.Val())
			}
			if opt == "timeout" {
				a.Timeout = caddy.Duration(v)
			} else if v == 0 {
				a.AuthCache = -1 // explicitly off
			} else {
				a.AuthCache = caddy.Duration(v)
			}
		default:
			return d.Errf("unknown option %q (want core, path, auth_cache or timeout)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*API)(nil)
)
