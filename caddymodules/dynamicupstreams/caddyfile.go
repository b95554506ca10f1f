package dynamicupstreams

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/registry"
)

func init() {
	httpcaddyfile.RegisterGlobalOption(AppName, parseApp)
	httpcaddyfile.RegisterHandlerDirective("plugboard_route", parseRoute)
	httpcaddyfile.RegisterDirectiveOrder("plugboard_route", httpcaddyfile.Before, "basic_auth")
}

// parseApp sets up the app from the global option:
//
//	plugboard_registry [<url>] {
//		resync  <duration>   # full reload under the change feed; default 5m
//		timeout <duration>   # bound of the start-up load and each reload; default 5s
//		eject_for <duration> # how long a failed instance leaves the rotation; default 10s
//		slow_floor <duration> # an instance slower than this …; default 500ms
//		slow_factor <number>  # … and than this many times the fastest is ejected; default 5
//		resilience { … }      # services' timeouts and retries: defaults and caps (resilience.go)
//		core <url>           # core, whose config center holds the routing rules; default none
//	}
func parseApp(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: AppName, Value: caddyconfig(app)}, nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		a.Registry = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "resilience":
			if err := a.Resilience.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "slow_factor":
			if !d.NextArg() {
				return d.ArgErr()
			}
			f, err := strconv.ParseFloat(d.Val(), 64)
			if err != nil || f < 1 {
				return d.Errf("slow_factor must be a number of at least 1, not %q", d.Val())
			}
			a.SlowFactor = f
			if d.NextArg() {
				return d.ArgErr()
			}
		case "resync", "timeout", "eject_for", "slow_floor":
			opt := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("bad %s duration %q: %v", opt, d.Val(), err)
			}
			if dur <= 0 {
				return d.Errf("%s must be positive", opt)
			}
			switch opt {
			case "resync":
				a.Resync = caddy.Duration(dur)
			case "timeout":
				a.Timeout = caddy.Duration(dur)
			case "slow_floor":
				a.SlowFloor = caddy.Duration(dur)
			default:
				a.EjectFor = caddy.Duration(dur)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "core":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Core = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown plugboard_registry option %q", d.Val())
		}
	}
	return nil
}

// parseRoute sets up the route handler:
//
//	plugboard_route [<prefix>] {     # default prefix /api/
//		preserve_host <service>...   # these get the client's Host; default none
//	}
//
// preserve_host's arguments may also be comma- or space-separated lists
// (as one environment variable gives them); none is allowed.
func parseRoute(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	r := new(Route)
	return r, r.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (h *Route) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		h.Prefix = d.Val()
		if len(h.Prefix) == 0 || h.Prefix[0] != '/' || h.Prefix[len(h.Prefix)-1] != '/' {
			return d.Errf("plugboard_route prefix must start and end with /, got %q", h.Prefix)
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "preserve_host":
			for d.NextArg() {
				for _, name := range strings.FieldsFunc(d.Val(), func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
					if !registry.ValidName(name) {
						return d.Errf("preserve_host: %q is not a service name", name)
					}
					h.PreserveHost = append(h.PreserveHost, name)
				}
			}
		default:
			return d.Errf("unknown plugboard_route option %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler for
// `dynamic dynamic_upstreams` (no options).
func (u *Upstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.ArgErr()
	}
	return nil
}

func caddyconfig(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Route)(nil)
	_ caddyfile.Unmarshaler = (*Upstreams)(nil)
)
