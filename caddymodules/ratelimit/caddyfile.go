package ratelimit

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/registry"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("plugboard_rate_limit", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(Handler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
	// After jwt_auth (which sits right after basic_auth), so that the
	// caller, tenant and API key are known: forward_auth is the next
	// standard directive after it.
	httpcaddyfile.RegisterDirectiveOrder("plugboard_rate_limit", httpcaddyfile.After, "forward_auth")
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler:
//
//	plugboard_rate_limit {
//		default <requests> <per> [burst <n>] [key <key>]          # every service without its own line
//		default off [<per>]                                       # none (the default)
//		service <name> <requests> <per> [burst <n>] [key <key>]   # one service's default
//		service <name> off                                        # no default for it
//		redis           [<url>]     # shared Redis; none or empty: this gateway only
//		prefix          [<prefix>]  # Redis key prefix; default plugboard:
//		timeout         <duration>  # bound of a Redis decision; default 100ms
//		retry           <duration>  # how long a failed Redis is left alone; default 1s
//		trusted_proxies <cidr>...   # proxies whose X-Forwarded-For names the client; default none
//		max_keys        <n>         # buckets kept in memory; default 100000
//	}
//
// <per> is a duration from 1s to 24h; <key> is user (default), tenant,
// api_key, client_ip or service.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "default":
			if d.CountRemainingArgs() >= 1 && d.NextArg() && d.Val() == "off" {
				d.RemainingArgs() // "off <per>": the Caddyfile's {$…_PER} after it
				h.Default = nil
				continue
			}
			d.Prev()
			l, err := parseLimit(d)
			if err != nil {
				return err
			}
			h.Default = l
			continue // parseLimit consumed the line
		case "service":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			if !registry.ValidName(name) {
				return d.Errf("service %q: not a service name", name)
			}
			if h.Services == nil {
				h.Services = map[string]*registry.RateLimit{}
			}
			if d.CountRemainingArgs() == 1 {
				d.NextArg()
				if d.Val() != "off" {
					return d.Errf("service %s %s: want <requests> <per> or off", name, d.Val())
				}
				h.Services[name] = nil
				continue
			}
			l, err := parseLimit(d)
			if err != nil {
				return err
			}
			h.Services[name] = l
			continue
		case "redis":
			// No argument is allowed: {$PLUGBOARD_REDIS_URL} unset.
			if d.NextArg() {
				h.Redis = d.Val()
			}
		case "prefix":
			if d.NextArg() {
				h.Prefix = d.Val()
			}
		case "timeout", "retry":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 {
				return d.Errf("%s %q: want a positive duration such as 100ms", opt, d.Val())
			}
			if opt == "timeout" {
				h.Timeout = caddy.Duration(v)
			} else {
				h.Retry = caddy.Duration(v)
			}
		case "trusted_proxies":
			h.TrustedProxies = append(h.TrustedProxies, d.RemainingArgs()...)
			continue
		case "max_keys":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("max_keys %q: want a positive number", d.Val())
			}
			h.MaxKeys = n
		default:
			return d.Errf("unknown option %q (want default, service, redis, prefix, timeout, retry, trusted_proxies or max_keys)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// parseLimit reads "<requests> <per> [burst <n>] [key <key>]" to the end
// of the line and validates it with the registry's rules.
func parseLimit(d *caddyfile.Dispenser) (*registry.RateLimit, error) {
	args := d.RemainingArgs()
	if len(args) < 2 || len(args)%2 != 0 {
		return nil, d.Errf("want <requests> <per> [burst <n>] [key <key>], got %q", args)
	}
	l := &registry.RateLimit{Per: args[1]}
	n, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		return nil, d.Errf("requests %q: want a whole number", args[0])
	}
	l.Requests = n
	for i := 2; i < len(args); i += 2 {
		switch args[i] {
		case "burst":
			b, err := strconv.ParseInt(args[i+1], 10, 64)
			if err != nil {
				return nil, d.Errf("burst %q: want a whole number", args[i+1])
			}
			l.Burst = b
		case "key":
			l.Key = registry.RateLimitKey(args[i+1])
		default:
			return nil, d.Errf("%q: want burst or key", args[i])
		}
	}
	if bad := l.Problems(); len(bad) > 0 {
		return nil, d.Errf("rate limit %q: %v", args, bad)
	}
	return l, nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
