package accesslog

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("plugboard_access_log", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		var a Handler
		return &a, a.UnmarshalCaddyfile(h.Dispenser)
	})
	// Before every other directive, so that requests refused by any handler
	// are logged too (plugboard_request_id comes after tracing, and sets the
	// request header the log reads when the response is done).
	httpcaddyfile.RegisterDirectiveOrder("plugboard_access_log", httpcaddyfile.Before, "tracing")
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler:
//
//	plugboard_access_log {
//		output         stderr | stdout | discard | file <path> { … } | net <address> { … }
//		flush_interval <duration>   # default 1s; 0 = write each line at once
//		buffer_size    <size>       # default 64KiB
//	}
//
// output takes Caddy's log writers with the options of the log directive's
// output (file: roll_size, roll_keep, roll_keep_for, …).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		opt := d.Val()
		if seen[opt] {
			return d.Errf("%s given twice", opt)
		}
		seen[opt] = true
		switch opt {
		case "output":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			var wo caddy.WriterOpener
			switch name {
			case "stdout":
				wo = caddy.StdoutWriter{}
			case "stderr":
				wo = caddy.StderrWriter{}
			case "discard":
				wo = caddy.DiscardWriter{}
			default:
				mod, err := caddyfile.UnmarshalModule(d, "caddy.logging.writers."+name)
				if err != nil {
					return err
				}
				var ok bool
				if wo, ok = mod.(caddy.WriterOpener); !ok {
					return d.Errf("output %s is not a log writer", name)
				}
			}
			h.WriterRaw = caddyconfig.JSONModuleObject(wo, "output", name, nil)
		case "flush_interval":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur < 0 {
				return d.Errf("flush_interval %q: want a duration such as 1s, or 0", d.Val())
			}
			v := caddy.Duration(dur)
			h.FlushInterval = &v
		case "buffer_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > 64<<20 {
				return d.Errf("buffer_size %q: want a size between 1B and 64MiB, such as 64KiB", d.Val())
			}
			h.BufferSize = int(n)
		default:
			return d.Errf("unknown option %q (want output, flush_interval or buffer_size)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
