package jwtauth

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/registry"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("jwt_auth", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("jwt_auth", httpcaddyfile.After, "basic_auth")
}

// parseCaddyfile sets up the handler from Caddyfile tokens.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	j := new(JWTAuth)
	return j, j.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	jwt_auth {
//		core           <url>       # core's base URL; default http://127.0.0.1:8082
//		issuer         <iss>       # required token issuer; default plugboard
//		audience       <aud>       # required token audience; default plugboard
//		jwks_refresh   <duration>  # JWKS refresh period; default 5m
//		key_cache_ttl  <duration>  # API key and tenant-services cache; default 30s
//		timeout        <duration>  # bound of each request to core; default 5s
//		stale_if_error <duration>  # cached answers past their TTL while core is down; default 10m
//		signing_secret_file <path> # file holding the identity signature master secret (read, never written); each service's key derives from it
//		signing_secret <placeholder>  # the key itself, e.g. {env.PLUGBOARD_GATEWAY_SIGNING_SECRET}; wins when it expands to a value
//		default_policy authenticated|public  # for undeclared endpoints; default authenticated
//		forward_authorization <service>...   # services that receive the client's Authorization; default none
//		max_token_ttl <duration>      # longest access-token lifetime of core: how long a revocation is kept; default 15m
//		feed_max_staleness <duration> # how long bearer tokens are decided locally while core's change feed is down; default 30s
//		stale_feed verify|accept|refuse  # bearer tokens once the feed is down longer: ask core (default), fail open, fail closed (503)
//	}
//
// Every subdirective is optional but the signing secret (one of the two). forward_authorization
// may be repeated; its names add up.
func (h *JWTAuth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if opt == "forward_authorization" { // one or more names; may repeat
			names := d.RemainingArgs()
			if len(names) == 0 {
				return d.ArgErr()
			}
			for _, name := range names {
				if !registry.ValidName(name) {
					return d.Errf("forward_authorization: %q is not a service name", name)
				}
			}
			h.ForwardAuthorization = append(h.ForwardAuthorization, names...)
			continue
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "core":
			h.Core = val
		case "issuer":
			h.Issuer = val
		case "audience":
			h.Audience = val
		case "jwks_refresh":
			dur, err := positiveDuration(d, opt, val)
			if err != nil {
				return err
			}
			h.JWKSRefresh = dur
		case "key_cache_ttl":
			dur, err := positiveDuration(d, opt, val)
			if err != nil {
				return err
			}
			h.KeyCacheTTL = dur
		case "timeout":
			dur, err := positiveDuration(d, opt, val)
			if err != nil {
				return err
			}
			h.Timeout = dur
		case "stale_if_error":
			dur, err := positiveDuration(d, opt, val)
			if err != nil {
				return err
			}
			h.StaleIfError = dur
		case "max_token_ttl", "feed_max_staleness":
			dur, err := positiveDuration(d, opt, val)
			if err != nil {
				return err
			}
			if opt == "max_token_ttl" {
				h.MaxTokenTTL = dur
			} else {
				h.FeedMaxStaleness = dur
			}
		case "stale_feed":
			if val != StaleFeedVerify && val != StaleFeedAccept && val != StaleFeedRefuse {
				return d.Errf("stale_feed must be %s, %s or %s, got %q", StaleFeedVerify, StaleFeedAccept, StaleFeedRefuse, val)
			}
			h.StaleFeed = val
		case "signing_secret":
			h.SigningSecret = val
		case "signing_secret_file":
			h.SigningSecretFile = val
		case "default_policy":
			if val != PolicyAuthenticated && val != PolicyPublic {
				return d.Errf("default_policy must be %s or %s, got %q", PolicyAuthenticated, PolicyPublic, val)
			}
			h.DefaultPolicy = val
		default:
			return d.Errf("unknown jwt_auth option %q", opt)
		}
	}
	return nil
}

func positiveDuration(d *caddyfile.Dispenser, opt, val string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(val)
	if err != nil {
		return 0, d.Errf("bad %s duration %q: %v", opt, val, err)
	}
	if dur <= 0 {
		return 0, d.Errf("%s must be positive, got %q", opt, val)
	}
	return caddy.Duration(dur), nil
}

// Interface guards.
var _ caddyfile.Unmarshaler = (*JWTAuth)(nil)
