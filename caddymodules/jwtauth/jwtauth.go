// Package jwtauth holds the gateway's jwt_auth handler
// (http.handlers.jwt_auth): it authenticates requests to plugin services,
// enforces the endpoint's policy and tells the service who is calling.
//
// It runs after plugboard_route, whose vars name the service, the matched
// endpoint and the service's metadata, and before reverse_proxy. For each
// request it
//
//  1. removes every client-sent header starting with X-Plugboard-, and the
//     client's credentials: API keys always, Authorization unless the
//     operator lets the service receive it (ForwardAuthorization);
//  2. decides the policy: a public endpoint needs no credentials; a request
//     that matches no declared endpoint (see dynamicupstreams.MatchEndpoint)
//     is refused with 404 once authenticated when the service declared
//     undeclared_paths "deny", and otherwise follows the service's metadata
//     ("auth": "public" or "authenticated") or else DefaultPolicy;
//  3. authenticates an access token (Authorization: Bearer) offline
//     against core's JWKS, or an API key (X-API-Key, or Authorization:
//     ApiKey) by asking core, caching both so that a repeated credential
//     costs a map lookup;
//  4. on a protected endpoint, requires one of the endpoint's
//     required_roles and that the caller's tenant has enabled the service
//     (a super_admin passes both);
//  5. sets the identity headers (see HeaderUserID and Sign) and the vars
//     pb_user_id and pb_tenant_id.
//
// It follows core's change feed (internal/corefeed, feed.go): a revoked
// session, user or tenant refuses the matching access tokens at once,
// cached ones included, and other changes drop or replace cached answers;
// once the feed has been down longer than FeedMaxStaleness, bearer tokens
// get StaleFeed (by default, asked of core like API keys).
//
// Refusals are caddyhttp errors carrying a gatewayctx.PublicError, so
// plugboard_problem renders them as problem+json: 401 with a
// WWW-Authenticate challenge, 403, 404 for a path the service refuses to
// serve undeclared, or 503 when core cannot be asked.
package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/coreclient"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/registry"
)

func init() {
	caddy.RegisterModule(JWTAuth{})
}

const (
	// cacheSize bounds each cache (tokens, API keys, tenants).
	cacheSize = 10000
	// refetchEvery is how often an unknown kid may fetch the JWKS.
	refetchEvery = 10 * time.Second
	// maxBody bounds what is read from core (the JWKS).
	maxBody = 1 << 20
)

// JWTAuth authenticates and authorizes requests to plugin services. See
// the package documentation.
type JWTAuth struct {
	// Core is the core service's base URL: it serves the JWKS at
	// /api/auth/jwks.json and verifies credentials at /api/auth/verify.
	// Default: http://127.0.0.1:8082
	Core string `json:"core,omitempty"`
	// Issuer is the iss that access tokens must carry. Default: plugboard
	Issuer string `json:"issuer,omitempty"`
	// Audience is the aud that access tokens must carry. Default: plugboard
	Audience string `json:"audience,omitempty"`
	// JWKSRefresh is how often core's JWKS is fetched again. A token with
	// an unknown kid also fetches it, at most once per 10s. Default: 5m
	JWKSRefresh caddy.Duration `json:"jwks_refresh,omitempty"`
	// KeyCacheTTL is how long core's answer about an API key (accepted or
	// refused) and a tenant's enabled services are cached: a revoked key or
	// a disabled service takes effect within it. Default: 30s
	KeyCacheTTL caddy.Duration `json:"key_cache_ttl,omitempty"`
	// Timeout bounds each request to core. Default: 5s
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// StaleIfError is how long past KeyCacheTTL a cached answer of core (an
	// API key's identity or refusal, a tenant's enabled services) is still
	// used while core cannot be reached, so that a core outage does not lock
	// out every API-key and tenant user once the cache expires (RFC 5861's
	// stale-if-error). After a failed call, core is not asked again for a
	// second: requests use cached answers or get 503 at once. Revocations
	// already known stay in force. Default: 10m
	StaleIfError caddy.Duration `json:"stale_if_error,omitempty"`
	// SigningSecretFile is the file holding the master secret of
	// X-Plugboard-Signature: each request is signed with the key of the
	// service it goes to, ServiceKey(master, service), so that a plugin
	// holds only its own key (surrounding white space ignored; at least 16
	// characters). Provisioning only reads it: plugboard-gateway and the
	// launcher make it before Caddy starts. Global placeholders are
	// expanded. Required unless SigningSecret expands to a value.
	SigningSecretFile string `json:"signing_secret_file,omitempty"`
	// SigningSecret is the HMAC key itself, meant as a placeholder
	// expanded when the handler is provisioned, such as
	// {env.PLUGBOARD_GATEWAY_SIGNING_SECRET}, so that the secret never
	// appears in the adapted config. When it expands to a value,
	// SigningSecretFile is not read. Default: none
	SigningSecret string `json:"signing_secret,omitempty"`
	// DefaultPolicy is the policy of requests that match no endpoint the
	// service declared, unless the service's metadata sets "auth":
	// "authenticated" (credentials required) or "public".
	// Default: authenticated
	DefaultPolicy string `json:"default_policy,omitempty"`
	// ForwardAuthorization names the services that receive the client's
	// Authorization header (a bearer token, or another scheme the service
	// handles itself). The operator chooses, not the service, so that a
	// compromised plugin cannot opt in to replayable user tokens. API keys
	// are never forwarded. Default: none (Authorization is removed)
	ForwardAuthorization []string `json:"forward_authorization,omitempty"`
	// MaxTokenTTL is the longest lifetime of core's access tokens (core's
	// auth.DefaultTTL unless core is configured otherwise): a revocation
	// learnt from core's change feed is kept this long (plus the 30s
	// leeway) past its time, when every token it could match has expired.
	// Default: 15m
	MaxTokenTTL caddy.Duration `json:"max_token_ttl,omitempty"`
	// FeedMaxStaleness is how long bearer tokens are still decided locally
	// (signature, expiry, the revocations learnt so far) while core's
	// change feed is down. Default: 30s
	FeedMaxStaleness caddy.Duration `json:"feed_max_staleness,omitempty"`
	// StaleFeed is what bearer tokens get once the feed has been down
	// longer than FeedMaxStaleness: "verify" asks core about each token
	// like about an API key (cached key_cache_ttl; while core is
	// unreachable, an answer within stale_if_error, else 503), "accept"
	// keeps deciding locally (fail open: revocations made meanwhile wait
	// for the feed), "refuse" answers 503 (fail closed).
	// Default: verify
	StaleFeed string `json:"stale_feed,omitempty"`

	logger *slog.Logger
	client *http.Client
	secret []byte
	now    func() time.Time
	rt     *state // behind a pointer: Caddy copies module values
}

// state is the handler's mutable state.
type state struct {
	keys atomic.Pointer[keyring]

	fetchMu      sync.Mutex // serializes JWKS fetches
	lastOnDemand time.Time  // last fetch caused by an unknown kid; fetchMu guards it

	core    *coreclient.Client[*identity]       // core's answers, by credential
	tenants *coreclient.Cache[string, []string] // enabled services by tenant id
	// quotas are the tenants' rate-limit quotas (core's answer beside
	// tenants), for the callers of tokens verified offline.
	quotas  *coreclient.Cache[string, *registry.RateLimit]
	signers *signers           // keyed HMACs, one pool per service
	wg      sync.WaitGroup     // the refresher and the follower
	stop    context.CancelFunc // ends the refresher and the follower

	feed      *corefeed.Follower // core's change feed
	deny      *denylist          // revocations learnt from it
	tenantGen atomic.Int64       // bumped when the feed changes tenants: a fetch begun before is not cached
	kick      chan struct{}      // fetch the JWKS now
	resets    atomic.Int64       // reset frames seen
}

// CaddyModule returns the Caddy module information.
func (JWTAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.jwt_auth", New: func() caddy.Module { return new(JWTAuth) }}
}

// Provision sets defaults, reads the signing secret and starts the JWKS
// refresher, which stops with ctx. Core being down does not fail it: bearer
// tokens are refused until the JWKS arrives.
func (h *JWTAuth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Slogger()
	if err := h.setup(); err != nil {
		return err
	}
	h.start(ctx, ctx.Slogger())
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		for _, g := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "plugboard", Subsystem: "gateway", Name: "core_feed_staleness_seconds",
				Help: "Seconds since jwt_auth last heard core's change feed; 0 while it is connected and live.",
			}, h.rt.feed.Staleness),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "plugboard", Subsystem: "gateway", Name: "core_feed_revision",
				Help: "The last revision of core's change feed that jwt_auth applied.",
			}, func() float64 { return float64(h.rt.feed.Revision()) }),
		} {
			if err := reg.Register(g); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
				return fmt.Errorf("jwt_auth: register metric: %w", err)
			}
		}
	}
	return nil
}

// FeedRevision returns the last revision of core's change feed the handler
// applied (see corefeed.Follower.Revision).
func (h *JWTAuth) FeedRevision() int64 {
	if h.rt == nil || h.rt.feed == nil {
		return 0
	}
	return h.rt.feed.Revision()
}

// setup sets defaults and builds everything but the client of core and
// the refresher.
func (h *JWTAuth) setup() error {
	if h.Core == "" {
		h.Core = "http://127.0.0.1:8082"
	}
	h.Core = strings.TrimRight(h.Core, "/")
	if h.Issuer == "" {
		h.Issuer = "plugboard"
	}
	if h.Audience == "" {
		h.Audience = "plugboard"
	}
	if h.JWKSRefresh <= 0 {
		h.JWKSRefresh = caddy.Duration(5 * time.Minute)
	}
	if h.KeyCacheTTL <= 0 {
		h.KeyCacheTTL = caddy.Duration(30 * time.Second)
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(5 * time.Second)
	}
	if h.StaleIfError <= 0 {
		h.StaleIfError = caddy.Duration(10 * time.Minute)
	}
	if h.MaxTokenTTL <= 0 {
		h.MaxTokenTTL = caddy.Duration(auth.DefaultTTL)
	}
	if h.FeedMaxStaleness <= 0 {
		h.FeedMaxStaleness = caddy.Duration(30 * time.Second)
	}
	if h.StaleFeed == "" {
		h.StaleFeed = StaleFeedVerify
	}
	if h.DefaultPolicy == "" {
		h.DefaultPolicy = PolicyAuthenticated
	}
	secret, err := h.loadSecret()
	if err != nil {
		return err
	}
	h.secret = []byte(secret)
	if h.now == nil {
		h.now = time.Now
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	h.client = &http.Client{Transport: tr, Timeout: time.Duration(h.Timeout)}
	h.rt = &state{tenants: coreclient.NewCache[string, []string](cacheSize), quotas: coreclient.NewCache[string, *registry.RateLimit](cacheSize),
		kick: make(chan struct{}, 1)}
	h.rt.deny = seedDenylist(h.Core)
	h.rt.signers = newSigners(h.secret)
	h.rt.keys.Store(h.newKeyring(nil))
	return nil
}

// start makes the client of core and launches the JWKS refresher, which
// stops when ctx is done.
func (h *JWTAuth) start(ctx context.Context, logger *slog.Logger) {
	h.logger = logger
	h.rt.core = h.newCoreClient()
	if len(h.secret) < 32 {
		h.logger.Warn("the identity signing secret is shorter than 32 bytes")
	}
	h.rt.feed = h.newFollower()
	ctx, h.rt.stop = context.WithCancel(ctx)
	h.rt.wg.Add(2)
	go func() {
		defer h.rt.wg.Done()
		h.refreshLoop(ctx)
	}()
	go func() {
		defer h.rt.wg.Done()
		h.rt.feed.Run(ctx)
	}()
}

// Validate checks the configuration.
func (h *JWTAuth) Validate() error {
	u, err := url.Parse(h.Core)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("jwt_auth: core %q is not an http(s) URL", h.Core)
	}
	if h.DefaultPolicy != PolicyAuthenticated && h.DefaultPolicy != PolicyPublic {
		return fmt.Errorf("jwt_auth: default_policy %q is neither %s nor %s", h.DefaultPolicy, PolicyAuthenticated, PolicyPublic)
	}
	switch h.StaleFeed {
	case StaleFeedVerify, StaleFeedAccept, StaleFeedRefuse:
	default:
		return fmt.Errorf("jwt_auth: stale_feed %q is none of %s, %s, %s", h.StaleFeed, StaleFeedVerify, StaleFeedAccept, StaleFeedRefuse)
	}
	for _, name := range h.ForwardAuthorization {
		if !registry.ValidName(name) {
			return fmt.Errorf("jwt_auth: forward_authorization %q is not a service name", name)
		}
	}
	return nil
}

// Cleanup stops the refresher and the follower and closes idle connections to core.
func (h *JWTAuth) Cleanup() error {
	if h.rt != nil && h.rt.stop != nil {
		h.rt.stop()
		h.rt.wg.Wait()
	}
	if h.client != nil {
		h.client.CloseIdleConnections()
	}
	if h.rt != nil && h.rt.core != nil {
		h.rt.core.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *JWTAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	stripIdentityHeaders(r.Header)
	ctx := r.Context()
	var ep *registry.Endpoint
	var meta json.RawMessage
	var service string
	deny := false // the service refuses this undeclared request
	rt := gatewayctx.ResolvedFrom(ctx)
	if rt != nil {
		ep, meta, service = rt.Endpoint, rt.Metadata, rt.Service
		deny = rt.Undeclared && rt.UndeclaredPaths == registry.UndeclaredDeny
	}
	public := !deny && h.isPublic(ep, meta)

	kind, cred := credential.Parse(r.Header)
	// Never forward a long-lived secret to a plugin, nor a user's token
	// that it could replay against core, unless the operator allows it.
	delete(r.Header, "X-Api-Key") // the canonical name: Del would allocate to canonicalize "X-API-Key"
	if authz, ok := r.Header["Authorization"]; ok && (kind == credential.APIKey || !h.forwardsAuthorization(service, authz)) {
		r.Header.Del("Authorization")
	}
	var (
		id  *identity
		err error
	)
	switch kind {
	case credential.None:
		err = errNoCredentials
	case credential.Invalid:
		err = errBadCredentials
	case credential.Bearer:
		if id, err = h.verifyToken(ctx, cred); err == nil {
			id, err = h.checkToken(ctx, r, cred, id, h.now())
		}
	case credential.APIKey:
		id, err = h.verifyAPIKey(ctx, r.Header.Get("X-Request-Id"), cred)
	}
	if public {
		if err == nil {
			h.setIdentity(r, service, id)
		}
		return next.ServeHTTP(w, r)
	}
	if err == nil && deny {
		err = &refusal{http.StatusNotFound, fmt.Sprintf("Service %q declares no endpoint for %s %s and refuses undeclared requests.", service, r.Method, rt.Path), false}
	}
	if err == nil {
		err = h.authorize(ctx, r.Header.Get("X-Request-Id"), kind, cred, id, ep)
	}
	if err != nil {
		return h.refuse(w, err)
	}
	h.setIdentity(r, service, id)
	return next.ServeHTTP(w, r)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*JWTAuth)(nil)
	_ caddy.Validator             = (*JWTAuth)(nil)
	_ caddy.CleanerUpper          = (*JWTAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*JWTAuth)(nil)
)
