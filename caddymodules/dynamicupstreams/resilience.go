package dynamicupstreams

// Per-service resilience (issue 16 item 3): each service's upstream timeout
// and retries, as its instances registered them (registry.Resilience),
// within the defaults and caps of plugboard_registry's resilience block.
//
// Caddy's reverse_proxy has one response_header_timeout per transport and
// one lb_retries per handler, so the per-service values are applied by two
// modules of this package in that reverse_proxy:
//   - transport plugboard_http: Caddy's http transport whose response
//     header timeout is the service's, started when the request is written
//     (as net/http's ResponseHeaderTimeout), with the cap as the http
//     transport's own backstop; it also records each failed send;
//   - the matcher plugboard_retry, in each lb_retry_match set: it admits
//     another try only while the service's retries are not used up and the
//     failure is one its retry_on names.
// lb_retries stays the hard cap (at least max_retries, checked at load) and
// bounds connection failures, which are always tried elsewhere (nothing
// was sent); the per-instance passive health stays the breaker.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/registry"
)

func init() {
	caddy.RegisterModule(Transport{})
	caddy.RegisterModule(RetryMatch{})
}

// Defaults of the resilience block: the gateway's timeout and retries for
// a service that asks for none (its caps default to registry's).
const (
	defaultTimeout = 30 * time.Second
	defaultRetries = 2
)

// ResilienceConfig is plugboard_registry's resilience block: the defaults
// of a service that asks for nothing and the caps of what one may ask.
// A service above a cap (which the registry refuses already, with caps of
// its own) gets the cap, and the gateway logs it once.
type ResilienceConfig struct {
	// Timeout is the default response-header timeout. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxTimeout caps a service's timeout. Default: 60s (registry.DefaultMaxTimeout).
	MaxTimeout caddy.Duration `json:"max_timeout,omitempty"`
	// Retries is the default number of retries. Default: 2.
	Retries *int `json:"retries,omitempty"`
	// MaxRetries caps a service's retries; reverse_proxy's lb_retries must
	// be at least this. Default: 3 (registry.DefaultMaxRetries).
	MaxRetries *int `json:"max_retries,omitempty"`

	warned *sync.Map // service → the clamped request last logged
}

// provision sets the defaults and checks that they are within the caps.
func (c *ResilienceConfig) provision() error {
	if c.Timeout <= 0 {
		c.Timeout = caddy.Duration(defaultTimeout)
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = caddy.Duration(registry.DefaultMaxTimeout)
	}
	if c.Retries == nil {
		c.Retries = intPtr(defaultRetries)
	}
	if c.MaxRetries == nil {
		c.MaxRetries = intPtr(registry.DefaultMaxRetries)
	}
	c.warned = new(sync.Map)
	switch {
	case c.Timeout > c.MaxTimeout:
		return fmt.Errorf("plugboard_registry resilience: timeout %s is above max_timeout %s",
			time.Duration(c.Timeout), time.Duration(c.MaxTimeout))
	case *c.Retries < 0 || *c.MaxRetries < 0:
		return errors.New("plugboard_registry resilience: retries and max_retries must be 0 or more")
	case *c.Retries > *c.MaxRetries:
		return fmt.Errorf("plugboard_registry resilience: retries %d is above max_retries %d", *c.Retries, *c.MaxRetries)
	}
	return nil
}

func intPtr(n int) *int { return &n }

// unmarshalCaddyfile reads the block:
//
//	resilience {
//		timeout     <duration>  # default response-header timeout; default 30s
//		retries     <n>         # default retries; default 2
//		max_timeout <duration>  # cap of a service's timeout; default 60s
//		max_retries <n>         # cap of a service's retries; default 3
//	}
func (c *ResilienceConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(1) {
		opt := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "timeout", "max_timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("resilience %s must be a positive duration, not %q", opt, val)
			}
			if opt == "timeout" {
				c.Timeout = caddy.Duration(dur)
			} else {
				c.MaxTimeout = caddy.Duration(dur)
			}
		case "retries", "max_retries":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return d.Errf("resilience %s must be a whole number of 0 or more, not %q", opt, val)
			}
			if opt == "retries" {
				c.Retries = &n
			} else {
				c.MaxRetries = &n
			}
		default:
			return d.Errf("unknown resilience option %q", opt)
		}
	}
	return nil
}

// Failure kinds, as bits: what a failed send met.
const (
	fail502 uint8 = 1 << iota
	fail503
	fail504
	failTransport
	failTimeout
)

var failBits = map[string]uint8{
	registry.RetryOn502: fail502, registry.RetryOn503: fail503, registry.RetryOn504: fail504,
	registry.RetryOnTransportError: failTransport, registry.RetryOnTimeout: failTimeout,
}

// serviceResilience is a service's registry.Resilience, parsed once per
// snapshot: a zero field is unset.
type serviceResilience struct {
	timeout    time.Duration
	retries    int
	hasRetries bool
	retryOn    uint8 // 0: the default
}

// parseResilience parses r (validated by the registry; what does not
// parse is left to the defaults).
func parseResilience(r *registry.Resilience) serviceResilience {
	var s serviceResilience
	if r == nil {
		return s
	}
	s.timeout, _ = r.TimeoutDuration()
	if r.Retries != nil && *r.Retries >= 0 {
		s.retries, s.hasRetries = *r.Retries, true
	}
	for _, v := range r.RetryOn {
		s.retryOn |= failBits[v]
	}
	return s
}

// defaultRetryOn is registry.DefaultRetryOn as bits.
var defaultRetryOn = parseResilience(&registry.Resilience{RetryOn: registry.DefaultRetryOn}).retryOn

// policy is what applies to one service's requests.
type policy struct {
	timeout time.Duration
	retries int
	retryOn uint8
}

// policyFor returns the policy of the service the request of ctx was
// routed to: its own values within the caps, the defaults for the rest.
func (a *App) policyFor(ctx context.Context) policy {
	c := &a.Resilience
	p := policy{timeout: time.Duration(c.Timeout), retries: *c.Retries, retryOn: defaultRetryOn}
	name, _ := caddyhttp.GetVar(ctx, gatewayctx.VarService).(string)
	snap := a.Snapshot()
	if name == "" || snap == nil || snap.Services[name] == nil {
		return p
	}
	s := snap.Services[name].Resilience
	if s.timeout > 0 {
		p.timeout = s.timeout
	}
	if s.hasRetries {
		p.retries = s.retries
	}
	if s.retryOn != 0 {
		p.retryOn = s.retryOn
	}
	if max := time.Duration(c.MaxTimeout); p.timeout > max {
		a.warnClamped(name, "timeout", p.timeout.String(), max.String())
		p.timeout = max
	}
	if p.retries > *c.MaxRetries {
		a.warnClamped(name, "retries", strconv.Itoa(p.retries), strconv.Itoa(*c.MaxRetries))
		p.retries = *c.MaxRetries
	}
	return p
}

// warnClamped logs, once per service and value, that the service asked
// for more than the gateway's cap (a registry with higher caps than the
// gateway's, or an older one).
func (a *App) warnClamped(service, field, asked, limit string) {
	key := service + " " + field
	if prev, loaded := a.Resilience.warned.Swap(key, asked); loaded && prev == asked {
		return
	}
	a.logger.Warn("a service asks for more than the gateway's resilience cap; the cap applies",
		slog.String("service", service), slog.String("field", field), slog.String("asked", asked), slog.String("cap", limit))
}

// varTries holds a request's *tries; set at its first failed send only.
const varTries = "pb_tries"

// tries is what the failed sends of one request met so far.
type tries struct {
	failed int   // sends that failed (connections never made do not count)
	last   uint8 // what the last one met (a fail* bit; 0: another failure)
}

func (t *tries) record(ctx context.Context, kind uint8) *tries {
	if t == nil {
		t = new(tries)
		caddyhttp.SetVar(ctx, varTries, t)
	}
	t.failed++
	t.last = kind
	return t
}

// Transport is Caddy's http transport (every option of `transport http`)
// with the response-header timeout of the service plugboard_route
// resolved: `transport plugboard_http { … }`. Its response_header_timeout
// is not settable: the http transport's is plugboard_registry's
// max_timeout, a backstop under the per-service timer.
type Transport struct {
	reverseproxy.HTTPTransport

	app *App
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.plugboard_http",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Provision finds the registry app and sets up the http transport.
func (t *Transport) Provision(ctx caddy.Context) error {
	if t.ResponseHeaderTimeout != 0 {
		return errors.New("plugboard_http: response_header_timeout is plugboard_registry's resilience timeout (the default) and max_timeout (the cap)")
	}
	app, err := ctx.App(AppName)
	if err != nil {
		return fmt.Errorf("plugboard_http needs the %s app: %w", AppName, err)
	}
	t.app = app.(*App)
	t.ResponseHeaderTimeout = t.app.Resilience.MaxTimeout
	if h := enclosingProxy(ctx); h != nil && !hasRetryMatcher(h) {
		t.app.logger.Warn("reverse_proxy uses transport plugboard_http but no lb_retry_match set holds plugboard_retry: services' retries and retry_on are not applied")
	}
	return t.HTTPTransport.Provision(ctx)
}

// enclosingProxy is the reverse_proxy handler a module is provisioned in.
func enclosingProxy(ctx caddy.Context) *reverseproxy.Handler {
	mods := ctx.Modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if h, ok := mods[i].(*reverseproxy.Handler); ok {
			return h
		}
	}
	return nil
}

func hasRetryMatcher(h *reverseproxy.Handler) bool {
	if h.LoadBalancing == nil {
		return false
	}
	for _, set := range h.LoadBalancing.RetryMatchRaw {
		if _, ok := set[retryMatcherName]; ok {
			return true
		}
	}
	return false
}

// RoundTrip sends req with the service's response-header timeout, and
// records a failed send for plugboard_retry.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	pol := t.app.policyFor(ctx)
	ht := &headerTimer{d: pol.timeout}
	tctx, cancel := context.WithCancelCause(ctx)
	ht.cancel = cancel
	ht.trace.WroteRequest = ht.start
	tctx = httptrace.WithClientTrace(tctx, &ht.trace)
	res, err := t.HTTPTransport.RoundTrip(req.WithContext(tctx))
	if ht.stop() {
		if err == nil {
			res.Body.Close()
		}
		res, err = nil, headerTimeoutError{pol.timeout}
	}
	var kind uint8
	switch {
	case err == nil && res.StatusCode < 500:
		return res, nil
	case err == nil:
		switch res.StatusCode {
		case http.StatusBadGateway:
			kind = fail502
		case http.StatusServiceUnavailable:
			kind = fail503
		case http.StatusGatewayTimeout:
			kind = fail504
		}
	case errors.As(err, new(headerTimeoutError)):
		kind = failTimeout
	case errors.As(err, new(reverseproxy.DialError)), errors.Is(err, context.Canceled):
		return res, err // nothing was sent, or the client left: not a failed send
	default:
		kind = failTransport
	}
	tr, _ := caddyhttp.GetVar(ctx, varTries).(*tries)
	tr.record(ctx, kind)
	return res, err
}

// headerTimer cancels a send whose response headers do not arrive within
// d of the request being written.
type headerTimer struct {
	d      time.Duration
	cancel context.CancelCauseFunc
	trace  httptrace.ClientTrace // WroteRequest: start (one allocation with the timer)

	mu    sync.Mutex
	timer *time.Timer
	done  bool // the round trip returned
	fired bool
}

var errHeaderTimeout = errors.New("no response headers in time")

// start runs when the request is written (on net/http's goroutine).
func (h *headerTimer) start(httptrace.WroteRequestInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done || h.timer != nil {
		return
	}
	h.timer = time.AfterFunc(h.d, func() {
		h.mu.Lock()
		if h.done {
			h.mu.Unlock()
			return
		}
		h.fired = true
		h.mu.Unlock()
		h.cancel(errHeaderTimeout)
	})
}

// stop ends the timer and reports whether it fired.
func (h *headerTimer) stop() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	if h.timer != nil {
		h.timer.Stop()
	}
	return h.fired
}

// headerTimeoutError is a send cut by the service's timeout. It is a
// net.Error with Timeout() true, so reverse_proxy answers 504, and it is
// not context.Canceled, which reverse_proxy would take for the client's
// leaving.
type headerTimeoutError struct{ d time.Duration }

func (e headerTimeoutError) Error() string {
	return "the instance sent no response headers within the service's timeout of " + e.d.String()
}
func (headerTimeoutError) Timeout() bool   { return true }
func (headerTimeoutError) Temporary() bool { return false }

const retryMatcherName = "plugboard_retry"

// RetryMatch is the request matcher plugboard_retry, for reverse_proxy's
// lb_retry_match sets: it matches while the request's failed sends are no
// more than its service's retries and the last failure is one the
// service's retry_on names. The set's other matchers (methods, an
// expression on {rp.status_code} or {rp.is_transport_error}) still apply;
// the expression is what makes reverse_proxy ask the set about responses.
// It needs transport plugboard_http, which records the failures.
type RetryMatch struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (RetryMatch) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers." + retryMatcherName,
		New: func() caddy.Module { return new(RetryMatch) },
	}
}

// Provision finds the registry app and checks that reverse_proxy's
// lb_retries lets every service have the retries the caps allow.
func (m *RetryMatch) Provision(ctx caddy.Context) error {
	app, err := ctx.App(AppName)
	if err != nil {
		return fmt.Errorf("%s needs the %s app: %w", retryMatcherName, AppName, err)
	}
	m.app = app.(*App)
	if h := enclosingProxy(ctx); h != nil {
		max := *m.app.Resilience.MaxRetries
		if h.LoadBalancing == nil || h.LoadBalancing.Retries < max {
			return fmt.Errorf("%s: reverse_proxy's lb_retries must be at least plugboard_registry's resilience max_retries (%d)", retryMatcherName, max)
		}
	}
	return nil
}

// Match implements caddyhttp.RequestMatcher.
func (m *RetryMatch) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// MatchWithError implements caddyhttp.RequestMatcherWithError.
func (m *RetryMatch) MatchWithError(r *http.Request) (bool, error) {
	tr, _ := caddyhttp.GetVar(r.Context(), varTries).(*tries)
	if tr == nil {
		return false, nil
	}
	p := m.app.policyFor(r.Context())
	return tr.failed <= p.retries && p.retryOn&tr.last != 0, nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler: `plugboard_retry`
// takes no arguments.
func (m *RetryMatch) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.ArgErr()
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner                 = (*Transport)(nil)
	_ http.RoundTripper                 = (*Transport)(nil)
	_ caddy.CleanerUpper                = (*Transport)(nil)
	_ caddyfile.Unmarshaler             = (*Transport)(nil)
	_ reverseproxy.TLSTransport         = (*Transport)(nil)
	_ caddy.Provisioner                 = (*RetryMatch)(nil)
	_ caddyhttp.RequestMatcherWithError = (*RetryMatch)(nil)
	_ caddyfile.Unmarshaler             = (*RetryMatch)(nil)
)
