package traffic

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
)

func init() {
	caddy.RegisterModule(API{})
}

// Defaults of the API's options.
const (
	DefaultCore      = "http://127.0.0.1:8082"
	DefaultPath      = "/api/gateway/traffic"
	DefaultAuthCache = caddy.Duration(5 * time.Second)
	DefaultTimeout   = caddy.Duration(3 * time.Second)
)

// API serves GET <path>?window=<duration ≤ 1h>&service=<name>&by=version:
// the traffic report (Report) of the last window (default 1h); with
// by=version, each service's entry also lists its figures per version that
// served (VersionFigures: the live traffic split). It is a terminal
// handler: any other path it is given answers 404, any other method 405.
//
// The caller sends one credential, an access token (Authorization) or an
// API key (X-API-Key); core's GET /api/auth/me says who it is (answers are
// cached for AuthCache, keyed by a hash of the credential). A super_admin
// sees every tenant's requests, a tenant_admin those of their tenant, anyone
// else gets 403. Errors are problem+json: 400 for a bad query, 401 for a
// missing, refused or ambiguous credential (two of them, as
// credential.Parse reads them), 503 when core cannot be asked.
type API struct {
	// Core is core's base URL. Default http://127.0.0.1:8082.
	Core string `json:"core,omitempty"`
	// Path is the one path served. Default /api/gateway/traffic.
	Path string `json:"path,omitempty"`
	// AuthCache is how long core's answer about a credential is reused.
	// Default 5s.
	AuthCache caddy.Duration `json:"auth_cache,omitempty"`
	// Timeout bounds the request to core. Default 3s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	engine *engine
	client *http.Client
	cache  *authCache
	logger *slog.Logger
}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_traffic_api", New: func() caddy.Module { return new(API) }}
}

// Provision sets the defaults and loads the plugboard_traffic app.
func (a *API) Provision(ctx caddy.Context) error {
	if a.Core == "" {
		a.Core = DefaultCore
	}
	a.Core = strings.TrimRight(a.Core, "/")
	if a.Path == "" {
		a.Path = DefaultPath
	}
	if a.AuthCache == 0 {
		a.AuthCache = DefaultAuthCache
	}
	if a.Timeout <= 0 {
		a.Timeout = DefaultTimeout
	}
	app, err := ctx.App(AppName)
	if err != nil {
		return err
	}
	a.engine = app.(*App).engine
	a.client = &http.Client{Timeout: time.Duration(a.Timeout)}
	a.cache = newAuthCache(time.Duration(a.AuthCache))
	a.logger = ctx.Slogger()
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path != a.Path {
		httpx.WriteError(w, r, a.logger, fault.Errorf(fault.NotFound, "Nothing is here; the gateway serves %s.", a.Path))
		return nil
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		httpx.WriteProblem(w, httpx.Problem{Type: httpx.ProblemType(http.StatusMethodNotAllowed), Title: http.StatusText(http.StatusMethodNotAllowed),
			Status: http.StatusMethodNotAllowed, Detail: "Only GET is served here.", Instance: httpx.Instance(r)})
		return nil
	}
	filter, err := a.authorize(r.Context(), r)
	if err == nil {
		var q query
		if q, err = parseQuery(r); err == nil {
			filter.Service = q.service
			now := time.Now()
			first, last, from := span(now, q.window)
			d, scope := a.engine.read(r.Context(), now, first, last, filter)
			httpx.WriteJSON(w, http.StatusOK, buildReport(d, first, last, from, now.Truncate(time.Second), scope, q.byVersion))
			return nil
		}
	}
	if fault.Is(err, fault.Unauthorized) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard"`)
	}
	httpx.WriteError(w, r, a.logger, err)
	return nil
}

// query is what a report request asks for.
type query struct {
	window    time.Duration
	service   string
	byVersion bool
}

// parseQuery reads window (a Go duration from 1m to 1h, default 1h),
// service, and by (only "version", which adds each service's versions).
func parseQuery(r *http.Request) (query, error) {
	v, err := httpx.Query(r)
	if err != nil {
		return query{}, err
	}
	q := query{window: MaxWindow, service: v.Get("service")}
	if s := v.Get("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < Step || d > MaxWindow {
			return query{}, fault.InvalidFields("The window is not a duration from 1m to 1h.", map[string]string{"window": "must be a duration from 1m to 1h, such as 15m"})
		}
		q.window = d
	}
	switch v.Get("by") {
	case "":
	case "version":
		q.byVersion = true
	default:
		return query{}, fault.InvalidFields("The report can only be broken down by version.", map[string]string{"by": "must be version, or absent"})
	}
	return q, nil
}

// authorize asks core who r's credential speaks for, and returns what it
// may see.
func (a *API) authorize(ctx context.Context, r *http.Request) (Filter, error) {
	var name, value string
	switch kind, cred := credential.Parse(r.Header); kind {
	case credential.Bearer:
		name, value = "Authorization", "Bearer "+cred
	case credential.APIKey:
		name, value = "X-API-Key", cred
	case credential.Invalid:
		return Filter{}, fault.Errorf(fault.Unauthorized, "%s", credential.InvalidMessage)
	default:
		return Filter{}, fault.Errorf(fault.Unauthorized, "%s", credential.MissingMessage)
	}
	id := sha256.Sum256([]byte(name + "\x00" + value))
	c, ok := a.cache.get(id)
	if !ok {
		var err error
		if c, err = a.askCore(ctx, name, value, r.Header.Get("X-Request-Id")); err != nil {
			return Filter{}, err
		}
		a.cache.put(id, c)
	}
	subject := rbac.Subject{TenantID: c.tenant, Roles: c.roles} // who reads: core's access rules decide
	switch {
	case c.status == http.StatusUnauthorized:
		return Filter{}, fault.Errorf(fault.Unauthorized, "The credential is invalid or has expired.")
	case c.status != http.StatusOK:
		return Filter{}, fault.Errorf(fault.Forbidden, "This credential does not identify a user of core.")
	case rbac.IsSuperAdmin(subject):
		return Filter{AllTenants: true}, nil
	case rbac.CanReadTraffic(subject) && c.tenant != "":
		return Filter{Tenant: c.tenant}, nil
	}
	return Filter{}, fault.Errorf(fault.Forbidden, "Traffic statistics need the %s role.", strings.Join(rbac.TrafficReadRoles, " or "))
}

// identity is core's answer about a credential: its status (200, 401, or
// another refusal) and, with 200, the caller's roles and tenant.
type identity struct {
	status int
	roles  []string
	tenant string
}

// askCore sends the credential to core's GET /api/auth/me.
func (a *API) askCore(ctx context.Context, name, value, requestID string) (identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Core+"/api/auth/me", nil)
	if err != nil {
		return identity{}, fmt.Errorf("traffic: core request: %w", err)
	}
	req.Header.Set(name, value)
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return identity{}, fault.Wrap(fmt.Errorf("traffic: ask core who is calling: %w", err), fault.Unavailable,
			"Core, which checks credentials, is unavailable; try again shortly.")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500:
		return identity{}, fault.Wrap(fmt.Errorf("traffic: core answered %d to /api/auth/me", resp.StatusCode), fault.Unavailable,
			"Core, which checks credentials, is unavailable; try again shortly.")
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest:
		return identity{status: http.StatusUnauthorized}, nil
	default:
		return identity{status: http.StatusForbidden}, nil
	}
	var me struct {
		Roles  []string `json:"roles"`
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
		User struct {
			TenantID string `json:"tenant_id"`
		} `json:"user"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&me); err != nil {
		return identity{}, fault.Wrap(fmt.Errorf("traffic: decode core's /api/auth/me: %w", err), fault.Unavailable,
			"Core, which checks credentials, gave an answer the gateway cannot read; try again shortly.")
	}
	id := identity{status: http.StatusOK, roles: me.Roles, tenant: me.Tenant.ID}
	if id.tenant == "" {
		id.tenant = me.User.TenantID
	}
	return id, nil
}

// authCache keeps core's answers for a short time, keyed by a hash of the
// credential (never the credential itself).
type authCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[32]byte]cachedIdentity
}

type cachedIdentity struct {
	identity
	until time.Time
}

// maxCachedIdentities bounds the cache; a full cache drops what expired,
// and everything if nothing did.
const maxCachedIdentities = 4096

func newAuthCache(ttl time.Duration) *authCache {
	return &authCache{ttl: ttl, m: map[[32]byte]cachedIdentity{}}
}

func (c *authCache) get(id [32]byte) (identity, bool) {
	if c.ttl <= 0 {
		return identity{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || time.Now().After(e.until) {
		return identity{}, false
	}
	return e.identity, true
}

func (c *authCache) put(id [32]byte, v identity) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.m) >= maxCachedIdentities {
		for k, e := range c.m {
			if now.After(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedIdentities {
			clear(c.m)
		}
	}
	c.m[id] = cachedIdentity{v, now.Add(c.ttl)}
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*API)(nil)
	_ caddyhttp.MiddlewareHandler = (*API)(nil)
)
