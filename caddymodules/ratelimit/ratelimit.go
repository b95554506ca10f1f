// Package ratelimit is the plugboard_rate_limit Caddy handler
// (http.handlers.plugboard_rate_limit): it enforces the rate limits that
// apply to a request to a plugin service — the endpoint's rate_limit from
// the registry, the tenant's and the API key's quotas from core (through
// jwt_auth), and the Caddyfile's default per service — and refuses with
// 429 problem+json and Retry-After once one is spent. Every response it
// lets through carries the IETF RateLimit-Policy and RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers).
//
// With Redis every gateway counts in the same buckets, at most one round
// trip per decision (a GCRA script, gcra.go and redis.go), with leases of
// several requests when a bucket is far from its limit (engine.go);
// without Redis, or while it is down, each gateway counts on its own.
package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/registry"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	DefaultPrefix  = "plugboard:"
	DefaultTimeout = 100 * time.Millisecond
	DefaultRetry   = time.Second
	DefaultMaxKeys = 100_000
	maxCells       = 4 // endpoint, service default, tenant quota, key quota
)

// Handler is plugboard_rate_limit.
type Handler struct {
	// Default is the limit of every service without its own in Services.
	Default *registry.RateLimit `json:"default,omitempty"`
	// Services are per-service defaults, by service name.
	Services map[string]*registry.RateLimit `json:"services,omitempty"`
	// Redis is the URL of the Redis the gateways share their counts
	// through; placeholders such as {env.PLUGBOARD_REDIS_URL} are expanded
	// at start. Empty: this gateway counts alone.
	Redis string `json:"redis,omitempty"`
	// Prefix starts every Redis key. Default plugboard:.
	Prefix string `json:"prefix,omitempty"`
	// Timeout bounds a Redis decision; past it the gateway decides on its
	// own count. Default 100ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Retry is how long Redis is left alone after it failed. Default 1s.
	Retry caddy.Duration `json:"retry,omitempty"`
	// TrustedProxies are the proxies in front of the gateway whose
	// X-Forwarded-For names the client (CIDRs); none by default: the
	// client_ip key is the connection's peer.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// MaxKeys bounds the buckets each gateway keeps in memory. Default 100000.
	MaxKeys int `json:"max_keys,omitempty"`

	trusted []netip.Prefix
	engine  *engine
	poolKey string
	now     func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_rate_limit", New: func() caddy.Module { return new(Handler) }}
}

// engines keeps the counts across config reloads (the new config starts
// before the old one stops), one engine per Redis, prefix and bounds.
var engines = caddy.NewUsagePool()

// Provision implements caddy.Provisioner.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.Prefix == "" {
		h.Prefix = DefaultPrefix
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(DefaultTimeout)
	}
	if h.Retry <= 0 {
		h.Retry = caddy.Duration(DefaultRetry)
	}
	if h.MaxKeys <= 0 {
		h.MaxKeys = DefaultMaxKeys
	}
	h.now = time.Now
	h.trusted = h.trusted[:0]
	for _, s := range h.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("plugboard_rate_limit: trusted_proxies: %w", err)
		}
		h.trusted = append(h.trusted, p)
	}
	url := caddy.NewReplacer().ReplaceAll(h.Redis, "")
	logger := ctx.Slogger()
	h.poolKey = url + "\x00" + h.Prefix + "\x00" + time.Duration(h.Timeout).String() + "\x00" + time.Duration(h.Retry).String() + "\x00" + strconv.Itoa(h.MaxKeys)
	v, _, err := engines.LoadOrNew(h.poolKey, func() (caddy.Destructor, error) {
		return newEngine(url, h.Prefix, time.Duration(h.Timeout), time.Duration(h.Retry), h.MaxKeys, logger)
	})
	if err != nil {
		return fmt.Errorf("plugboard_rate_limit: %w", err)
	}
	h.engine = v.(*engine)
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		if err := h.engine.register(reg); err != nil {
			return fmt.Errorf("plugboard_rate_limit: register metrics: %w", err)
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate implements caddy.Validator.
func (h *Handler) Validate() error {
	if h.Default != nil {
		if bad := h.Default.FieldProblems("default"); len(bad) > 0 {
			return fmt.Errorf("plugboard_rate_limit: %v", bad)
		}
	}
	for name, l := range h.Services {
		if !registry.ValidName(name) {
			return fmt.Errorf("plugboard_rate_limit: service %q: not a service name", name)
		}
		if l == nil {
			continue
		}
		if bad := l.FieldProblems("service " + name); len(bad) > 0 {
			return fmt.Errorf("plugboard_rate_limit: %v", bad)
		}
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper: the last user closes the engine.
func (h *Handler) Cleanup() error {
	if h.engine == nil {
		return nil
	}
	_, err := engines.Delete(h.poolKey)
	return err
}

// A policy is one limit that applies to the request, with its name in the
// headers.
type policy struct {
	name  string // "endpoint", "service", "tenant", "api_key"
	limit *registry.RateLimit
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ctx := r.Context()
	rt := gatewayctx.ResolvedFrom(ctx)
	if rt == nil {
		return next.ServeHTTP(w, r) // not a plugin service's request
	}
	caller := gatewayctx.CallerFrom(ctx)
	var pols [maxCells]policy
	n := 0
	add := func(name string, l *registry.RateLimit) {
		if l != nil && l.Interval() > 0 {
			pols[n] = policy{name, l}
			n++
		}
	}
	if rt.Endpoint != nil {
		add("endpoint", rt.Endpoint.RateLimit)
	}
	if l, ok := h.Services[rt.Service]; ok {
		add("service", l)
	} else {
		add("service", h.Default)
	}
	if caller != nil {
		add("tenant", caller.TenantQuota)
		if caller.APIKeyID != "" {
			add("api_key", caller.KeyQuota)
		}
	}
	if n == 0 {
		return next.ServeHTTP(w, r)
	}

	var cells [maxCells]cell
	var ip string
	for i := range n {
		p := pols[i]
		var scope string
		switch p.name {
		case "endpoint":
			ep := rt.Endpoint
			scope = "e|" + rt.Service + "|" + ep.Method + " " + ep.Path
		case "service":
			scope = "s|" + rt.Service
		case "tenant":
			scope = "q"
		case "api_key":
			scope = "q"
		}
		key := p.limit.KeyOrDefault()
		if p.name == "tenant" {
			key = registry.KeyTenant
		} else if p.name == "api_key" {
			key = registry.KeyAPIKey
		}
		var id string
		id, ip = bucketID(key, caller, r, h.trusted, ip)
		cells[i] = cell{
			bucket:   scope + "|" + id,
			interval: int64(p.limit.Interval()),
			burst:    p.limit.BurstSize(),
		}
	}
	var out [maxCells]verdict
	ok := h.engine.decide(ctx, h.now(), cells[:n], out[:n])
	setHeaders(w.Header(), pols[:n], out[:n])
	if !ok {
		return refuse(w, pols[:n], out[:n])
	}
	return next.ServeHTTP(w, r)
}

// bucketID names the bucket of a request under key, from what the gateway
// verified only: jwt_auth's caller, or the client address under the
// trusted proxies' rules (httpx.ClientIP). A request without the key's
// value counts by the next it has: api_key → user → client_ip, tenant →
// client_ip. Each kind has its own prefix, so that no value of one kind
// can name another kind's bucket. ip caches the client address.
func bucketID(key registry.RateLimitKey, c *gatewayctx.Caller, r *http.Request, trusted []netip.Prefix, ip string) (string, string) {
	switch key {
	case registry.KeyService:
		return "all", ip
	case registry.KeyAPIKey:
		if c != nil && c.APIKeyID != "" {
			return "k:" + c.APIKeyID, ip
		}
		fallthrough
	case registry.KeyUser:
		if c != nil && c.UserID != "" {
			return "u:" + c.UserID, ip
		}
	case registry.KeyTenant:
		if c != nil && c.TenantID != "" {
			return "t:" + c.TenantID, ip
		}
	}
	if ip == "" {
		ip = httpx.ClientIP(r, trusted)
	}
	return "ip:" + ip, ip
}

// setHeaders writes RateLimit-Policy (every limit that applies) and
// RateLimit (each one's remaining quota and seconds to its reset), in the
// structured-field syntax of draft-ietf-httpapi-ratelimit-headers-10:
//
//	RateLimit-Policy: "endpoint";q=10;w=60, "service";q=1000;w=60
//	RateLimit: "endpoint";r=3;t=42, "service";r=987;t=1
func setHeaders(hd http.Header, pols []policy, out []verdict) {
	var pb, rb []byte
	for i, p := range pols {
		if i > 0 {
			pb = append(pb, ", "...)
			rb = append(rb, ", "...)
		}
		pb = append(pb, '"')
		pb = append(pb, p.name...)
		pb = append(pb, `";q=`...)
		pb = strconv.AppendInt(pb, p.limit.Requests, 10)
		pb = append(pb, ";w="...)
		pb = strconv.AppendInt(pb, int64(max(p.limit.Period()/time.Second, 1)), 10)
		rb = append(rb, '"')
		rb = append(rb, p.name...)
		rb = append(rb, `";r=`...)
		rb = strconv.AppendInt(rb, out[i].remaining, 10)
		rb = append(rb, ";t="...)
		rb = strconv.AppendInt(rb, ceilSeconds(out[i].reset), 10)
	}
	hd["Ratelimit-Policy"] = []string{string(pb)}
	hd["Ratelimit"] = []string{string(rb)}
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// refuse answers 429 through handle_errors (plugboard_problem) with
// Retry-After: the wait of the limit that refused longest.
func refuse(w http.ResponseWriter, pols []policy, out []verdict) error {
	worst := 0
	for i := range out {
		if out[i].retry > out[worst].retry {
			worst = i
		}
	}
	p, v := pols[worst], out[worst]
	w.Header().Set("Retry-After", strconv.FormatInt(max(ceilSeconds(v.retry), 1), 10))
	msg := fmt.Sprintf("Rate limit exceeded: the %s limit allows %d requests per %s per %s; retry in %s.",
		p.name, p.limit.Requests, p.limit.Per, keyWord(p), v.retry.Round(time.Millisecond))
	return caddyhttp.Error(http.StatusTooManyRequests, gatewayctx.PublicError{Message: msg})
}

func keyWord(p policy) string {
	switch p.name {
	case "tenant":
		return "tenant"
	case "api_key":
		return "API key"
	}
	switch p.limit.KeyOrDefault() {
	case registry.KeyService:
		return "service"
	case registry.KeyAPIKey:
		return "API key"
	case registry.KeyClientIP:
		return "client address"
	case registry.KeyTenant:
		return "tenant"
	}
	return "caller"
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
