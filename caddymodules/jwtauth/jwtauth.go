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
// Refusals are caddyhttp errors carrying a dynamicupstreams.PublicError, so
// plugboard_problem renders them as problem+json: 401 with a
// WWW-Authenticate challenge, 403, 404 for a path the service refuses to
// serve undeclared, or 503 when core cannot be asked.
package jwtauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/dynamicupstreams"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/secretfile"
	"github.com/plugboard/plugboard/registry"
)

func init() {
	caddy.RegisterModule(JWTAuth{})
}

// Vars jwt_auth sets for the handlers after it and for access logs.
const (
	VarUserID   = "pb_user_id"
	VarTenantID = "pb_tenant_id"
)

// Policies for DefaultPolicy and a service's metadata "auth" field.
const (
	PolicyAuthenticated = "authenticated"
	PolicyPublic        = "public"
)

const (
	// cacheSize bounds each cache (tokens, API keys, tenants).
	cacheSize = 10000
	// refetchEvery is how often an unknown kid may fetch the JWKS.
	refetchEvery = 10 * time.Second
	// maxBody bounds what is read from core.
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
	// SigningSecret is the HMAC key of X-Plugboard-Signature. Global
	// placeholders ({env.NAME}, {file.path}) are expanded when the handler
	// is provisioned, which fails if the result is empty.
	// Default: {env.PLUGBOARD_GATEWAY_SIGNING_SECRET}
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

	apiKeys  *cache[string, *identity] // by key hash; nil: refused
	tenants  *cache[string, []string]  // enabled services by tenant id
	keyCalls flight[*identity]         // core calls for an API key
	tokCalls flight[*verifyAnswer]     // core calls for a token's tenant
	macs     sync.Pool                 // keyed HMACs of the signing secret
	wg       sync.WaitGroup            // the refresher
	stop     context.CancelFunc        // ends the refresher
	// coreDownUntil (unix nanos) is when core may be asked again after a
	// failed call (coreBackoff).
	coreDownUntil atomic.Int64
}

// identity is who a credential speaks for, with its header values ready.
type identity struct {
	UserID, TenantID string
	Roles            []string
	roles, scopes    string // comma-separated
	super            bool
	// services are the tenant's enabled services when the credential was
	// an API key (core's answer carries them); nil for a token.
	services []string
}

func newIdentity(user, tenant string, roles, scopes, services []string) *identity {
	return &identity{
		UserID: user, TenantID: tenant, Roles: roles,
		roles: strings.Join(roles, ","), scopes: strings.Join(scopes, ","),
		super:    rbac.IsSuperAdmin(rbac.Subject{Roles: roles}),
		services: services,
	}
}

// verifyAnswer is core's answer to POST /api/auth/verify.
type verifyAnswer struct {
	UserID          string   `json:"user_id"`
	TenantID        string   `json:"tenant_id"`
	TenantName      string   `json:"tenant_name"`
	Username        string   `json:"username"`
	Roles           []string `json:"roles"`
	Scopes          []string `json:"scopes"`
	EnabledServices []string `json:"enabled_services"`
}

// CaddyModule returns the Caddy module information.
func (JWTAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.jwt_auth", New: func() caddy.Module { return new(JWTAuth) }}
}

// Provision sets defaults, expands the signing secret and starts the JWKS
// refresher, which stops with ctx. Core being down does not fail it: bearer
// tokens are refused until the JWKS arrives.
func (h *JWTAuth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Slogger()
	if err := h.setup(); err != nil {
		return err
	}
	h.start(ctx, ctx.Slogger())
	return nil
}

// setup sets defaults and builds everything but the refresher.
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
	if h.DefaultPolicy == "" {
		h.DefaultPolicy = PolicyAuthenticated
	}
	if h.SigningSecret == "" {
		h.SigningSecret = "{env.PLUGBOARD_GATEWAY_SIGNING_SECRET}"
	}
	secret := caddy.NewReplacer().ReplaceKnown(h.SigningSecret, "")
	if secret == "" {
		// Like the registry's token: kept in the data directory, made once,
		// so that plugins on this machine can read it there.
		var err error
		if secret, err = dataDirSecret(h.logger); err != nil {
			return fmt.Errorf("jwt_auth: the signing secret %q is empty and none could be kept in the data directory: %w", h.SigningSecret, err)
		}
	}
	h.secret = []byte(secret)
	if h.now == nil {
		h.now = time.Now
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	h.client = &http.Client{Transport: tr, Timeout: time.Duration(h.Timeout)}
	h.rt = &state{
		apiKeys: newCache[string, *identity](cacheSize),
		tenants: newCache[string, []string](cacheSize),
	}
	h.rt.macs.New = func() any { return hmac.New(sha256.New, h.secret) }
	h.rt.keys.Store(h.newKeyring(nil))
	return nil
}

// start launches the JWKS refresher; it stops when ctx is done.
func (h *JWTAuth) start(ctx context.Context, logger *slog.Logger) {
	h.logger = logger
	if len(h.secret) < 32 {
		h.logger.Warn("the identity signing secret is shorter than 32 bytes")
	}
	ctx, h.rt.stop = context.WithCancel(ctx)
	h.rt.wg.Add(1)
	go func() {
		defer h.rt.wg.Done()
		h.refreshLoop(ctx)
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
	for _, name := range h.ForwardAuthorization {
		if !registry.ValidName(name) {
			return fmt.Errorf("jwt_auth: forward_authorization %q is not a service name", name)
		}
	}
	return nil
}

// Cleanup stops the refresher and closes idle connections to core.
func (h *JWTAuth) Cleanup() error {
	if h.rt != nil && h.rt.stop != nil {
		h.rt.stop()
		h.rt.wg.Wait()
	}
	if h.client != nil {
		h.client.CloseIdleConnections()
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
	rt := dynamicupstreams.ResolvedFrom(ctx)
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
		id, err = h.verifyToken(ctx, cred)
	case credential.APIKey:
		id, err = h.verifyAPIKey(ctx, r.Header.Get("X-Request-Id"), cred)
	}
	if public {
		if err == nil {
			h.setIdentity(r, id)
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
	h.setIdentity(r, id)
	return next.ServeHTTP(w, r)
}

// forwardsAuthorization reports whether the operator lets service receive
// the client's Authorization header (never one carrying an API key).
func (h *JWTAuth) forwardsAuthorization(service string, authz []string) bool {
	if service == "" || !slices.Contains(h.ForwardAuthorization, service) {
		return false
	}
	for _, a := range authz {
		// Whatever follows the scheme: "ApiKey\t<key>" is refused as a
		// credential but still carries the key.
		if len(a) >= 6 && strings.EqualFold(a[:6], "ApiKey") {
			return false
		}
	}
	return true
}

// isPublic reports whether the request needs no credentials.
func (h *JWTAuth) isPublic(ep *registry.Endpoint, meta json.RawMessage) bool {
	if ep != nil {
		return ep.IsPublic
	}
	if bytes.Contains(meta, []byte(`"auth"`)) {
		var m struct {
			Auth string `json:"auth"`
		}
		if json.Unmarshal(meta, &m) == nil && (m.Auth == PolicyPublic || m.Auth == PolicyAuthenticated) {
			return m.Auth == PolicyPublic
		}
	}
	return h.DefaultPolicy == PolicyPublic
}

// authorize enforces the endpoint's required roles and the tenant's
// enabled services; a super_admin passes both.
func (h *JWTAuth) authorize(ctx context.Context, reqID string, kind credential.Kind, cred string, id *identity, ep *registry.Endpoint) error {
	if id.super {
		return nil
	}
	if ep != nil && !rbac.HasAnyRole(rbac.Subject{Roles: id.Roles}, ep.RequiredRoles) {
		return &refusal{http.StatusForbidden, "This endpoint needs one of the roles " + strings.Join(ep.RequiredRoles, ", ") + ".", false}
	}
	service, _ := caddyhttp.GetVar(ctx, dynamicupstreams.VarService).(string)
	if service == "" {
		return nil
	}
	services := id.services
	if kind == credential.Bearer {
		var err error
		if services, err = h.tenantServices(ctx, reqID, cred, id); err != nil {
			return err
		}
	}
	if !slices.Contains(services, service) {
		return &refusal{http.StatusForbidden, fmt.Sprintf("Your tenant has not enabled the service %q.", service), false}
	}
	return nil
}

// dataDirSecret returns the secret kept in $PLUGBOARD_DATA_DIR/gateway.secret
// (./data by default), creating a random one (mode 0600) on first use.
func dataDirSecret(logger *slog.Logger) (string, error) {
	dir := os.Getenv("PLUGBOARD_DATA_DIR")
	if dir == "" {
		dir = "data"
	}
	path := filepath.Join(dir, "gateway.secret")
	secret, created, err := secretfile.LoadOrCreate(path, "")
	if created && logger != nil {
		logger.Warn("PLUGBOARD_GATEWAY_SIGNING_SECRET is unset: generated a signing secret", "path", path)
	}
	return secret, err
}

// signedPath is the request target the signature covers: the path and
// query the service itself receives (plugboard_route has already pointed
// the request at {base_path}/{path}), so that the service checks it
// against its own request and a signed request cannot be replayed with
// another query.
func signedPath(r *http.Request) string {
	return r.URL.RequestURI()
}

// setIdentity sets the identity headers and vars.
func (h *JWTAuth) setIdentity(r *http.Request, id *identity) {
	ts := strconv.FormatInt(h.now().Unix(), 10)
	m := h.rt.macs.Get().(hash.Hash)
	sig := signWith(m, r.Method, signedPath(r), id.UserID, id.TenantID, id.roles, id.scopes, ts)
	h.rt.macs.Put(m)
	hd := r.Header // the names are canonical already
	hd[HeaderUserID] = []string{id.UserID}
	hd[HeaderTenantID] = []string{id.TenantID}
	hd[HeaderRoles] = []string{id.roles}
	hd[HeaderScopes] = []string{id.scopes}
	hd[HeaderTimestamp] = []string{ts}
	hd[HeaderSignature] = []string{sig}
	caddyhttp.SetVar(r.Context(), VarUserID, id.UserID)
	caddyhttp.SetVar(r.Context(), VarTenantID, id.TenantID)
}

// stripIdentityHeaders removes every header whose name starts with
// X-Plugboard-, in any case.
func stripIdentityHeaders(hd http.Header) {
	const prefix = "X-Plugboard-"
	for k := range hd {
		// X-Plugboard-Service is plugboard_route's, set after it stripped
		// the client's own.
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) && k != "X-Plugboard-Service" {
			delete(hd, k)
		}
	}
}

// refusal is a refused request: its status and a message safe to show.
// presented says whether a credential was sent (a 401 then carries
// error="invalid_token").
type refusal struct {
	status    int
	msg       string
	presented bool
}

func (e *refusal) Error() string { return e.msg }

var (
	errNoCredentials  = &refusal{http.StatusUnauthorized, credential.MissingMessage, false}
	errBadCredentials = &refusal{http.StatusUnauthorized, credential.InvalidMessage, true}
	errBadToken       = &refusal{http.StatusUnauthorized, "The access token is invalid.", true}
	errExpiredToken   = &refusal{http.StatusUnauthorized, "The access token has expired.", true}
	errBadKey         = &refusal{http.StatusUnauthorized, "The API key is invalid, expired or revoked.", true}
	// errRefused is core refusing a credential (401 or 403).
	errRefused = errors.New("core refused the credential")
)

// refuse turns err into the handler's error: a refusal's status and
// message, or 503 when core could not be asked.
func (h *JWTAuth) refuse(w http.ResponseWriter, err error) error {
	var rf *refusal
	if !errors.As(err, &rf) {
		h.logger.Warn("could not ask core about a credential", slog.String("core", h.Core), slog.Any("error", err))
		return caddyhttp.Error(http.StatusServiceUnavailable,
			dynamicupstreams.PublicError{Message: "The identity service is unavailable right now; try again shortly."})
	}
	if rf.status == http.StatusUnauthorized {
		challenge := `Bearer realm="plugboard"`
		if rf.presented {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	return caddyhttp.Error(rf.status, dynamicupstreams.PublicError{Message: rf.msg})
}

// verifyToken authenticates an access token: from the cache of the
// current JWKS, or by verifying it, fetching the JWKS first if its kid is
// unknown (at most once per refetchEvery).
func (h *JWTAuth) verifyToken(ctx context.Context, token string) (*identity, error) {
	now := h.now()
	sum := sha256.Sum256([]byte(token))
	kr := h.rt.keys.Load()
	if id, ok := kr.tokens.get(sum, now); ok {
		return id, nil
	}
	claims, err := kr.verifier.Verify(token, now)
	if errors.Is(err, auth.ErrUnknownKey) {
		if kr2 := h.refetch(ctx, kr); kr2 != kr {
			kr = kr2
			claims, err = kr.verifier.Verify(token, now)
		}
	}
	switch {
	case errors.Is(err, auth.ErrExpired):
		return nil, errExpiredToken
	case err != nil:
		h.logger.Debug("refused an access token", slog.Any("error", err))
		return nil, errBadToken
	}
	id := newIdentity(claims.Subject, claims.TenantID, claims.Roles, claims.Scopes, nil)
	if exp := claims.ExpiresAt.Time; now.Before(exp) { // not while only the leeway admits it
		kr.tokens.put(sum, id, exp, now)
	}
	return id, nil
}

// tenantServices returns the enabled services of a token's tenant, asking
// core (with the token) when they are not cached.
func (h *JWTAuth) tenantServices(ctx context.Context, reqID, token string, id *identity) ([]string, error) {
	now := h.now()
	if s, ok := h.rt.tenants.get(id.TenantID, now); ok {
		return s, nil
	}
	sum := sha256.Sum256([]byte(token))
	ans, err := h.rt.tokCalls.do(string(sum[:]), func() (*verifyAnswer, error) {
		return h.askCoreUnlessDown(ctx, reqID, "Authorization", "Bearer "+token)
	})
	switch {
	case errors.Is(err, errRefused):
		return nil, &refusal{http.StatusUnauthorized, "The access token is no longer valid.", true}
	case err != nil:
		if s, ok := h.rt.tenants.get(id.TenantID, now.Add(-time.Duration(h.StaleIfError))); ok {
			return s, nil // core is unreachable: the last answer, within stale_if_error
		}
		return nil, err
	case ans.TenantID != id.TenantID:
		h.logger.Warn("core placed a token in another tenant", slog.String("token_tenant", id.TenantID), slog.String("core_tenant", ans.TenantID))
		return nil, errBadToken
	}
	h.rt.tenants.put(id.TenantID, ans.EnabledServices, now.Add(time.Duration(h.KeyCacheTTL)), now)
	return ans.EnabledServices, nil
}

// verifyAPIKey authenticates an API key: from the cache, or by asking
// core, whose answer (acceptance or refusal) is cached for KeyCacheTTL.
func (h *JWTAuth) verifyAPIKey(ctx context.Context, reqID, key string) (*identity, error) {
	_, hash, ok := auth.ParseAPIKey(key)
	if !ok {
		return nil, errBadKey
	}
	now := h.now()
	if id, ok := h.rt.apiKeys.get(hash, now); ok {
		if id == nil {
			return nil, errBadKey
		}
		return id, nil
	}
	id, err := h.rt.keyCalls.do(hash, func() (*identity, error) {
		ans, err := h.askCoreUnlessDown(ctx, reqID, "X-API-Key", key)
		if err != nil {
			return nil, err
		}
		return newIdentity(ans.UserID, ans.TenantID, ans.Roles, ans.Scopes, ans.EnabledServices), nil
	})
	until := now.Add(time.Duration(h.KeyCacheTTL))
	switch {
	case errors.Is(err, errRefused):
		h.rt.apiKeys.put(hash, nil, until, now)
		return nil, errBadKey
	case err != nil:
		if id, ok := h.rt.apiKeys.get(hash, now.Add(-time.Duration(h.StaleIfError))); ok {
			if id == nil { // a refusal known before the outage still holds
				return nil, errBadKey
			}
			return id, nil // core is unreachable: the last answer, within stale_if_error
		}
		return nil, err
	}
	h.rt.apiKeys.put(hash, id, until, now)
	return id, nil
}

// coreBackoff is how long core is not asked again after a failed call.
const coreBackoff = time.Second

var errCoreBackingOff = errors.New("core failed less than a second ago; not asked again yet")

// askCoreUnlessDown is askCore, except within coreBackoff of a failed call,
// when it fails at once instead of adding a timeout to every request; a
// failure (not a refusal) starts the back-off, and the first one of an
// outage is logged.
func (h *JWTAuth) askCoreUnlessDown(ctx context.Context, reqID, header, value string) (*verifyAnswer, error) {
	now := h.now()
	if now.UnixNano() < h.rt.coreDownUntil.Load() {
		return nil, errCoreBackingOff
	}
	ans, err := h.askCore(ctx, reqID, header, value)
	if err != nil && !errors.Is(err, errRefused) {
		if prev := h.rt.coreDownUntil.Swap(now.Add(coreBackoff).UnixNano()); prev < now.Add(-coreBackoff).UnixNano() {
			h.logger.Warn("core is unreachable: cached answers are used for up to stale_if_error past their expiry",
				slog.String("core", h.Core), slog.Duration("stale_if_error", time.Duration(h.StaleIfError)), slog.Any("error", err))
		}
	}
	return ans, err
}

// askCore posts to core's /api/auth/verify with the credential in header.
// It returns errRefused when core answers 401 or 403. The call outlives a
// client that goes away (other requests may share it) but not Timeout.
func (h *JWTAuth) askCore(ctx context.Context, reqID, header, value string) (*verifyAnswer, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(h.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Core+"/api/auth/verify", nil)
	if err != nil {
		return nil, fmt.Errorf("verify request: %w", err)
	}
	req.Header.Set(header, value)
	req.Header.Set("Accept", "application/json")
	if reqID != "" {
		req.Header.Set("X-Request-Id", reqID)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verify credential: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, errRefused
	default:
		return nil, fmt.Errorf("verify credential: core answered %s", resp.Status)
	}
	var ans verifyAnswer
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxBody)).Decode(&ans); err != nil {
		return nil, fmt.Errorf("verify credential: decode core's answer: %w", err)
	}
	if ans.TenantID == "" {
		return nil, errors.New("verify credential: core's answer names no tenant")
	}
	return &ans, nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*JWTAuth)(nil)
	_ caddy.Validator             = (*JWTAuth)(nil)
	_ caddy.CleanerUpper          = (*JWTAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*JWTAuth)(nil)
)
