// Package httpapi is the registry's HTTP API: the seed's register,
// heartbeat, deregister and list endpoints, the change feed as Server-Sent
// Events, and the OpenAPI document. Errors are RFC 9457 problem+json.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/feed"
)

// Store is the part of the registry store the API uses.
type Store interface {
	Register(ctx context.Context, in *registry.Instance) (registry.Event, error)
	Get(ctx context.Context, id string) (*registry.Instance, error)
	List(ctx context.Context, f registry.Filter) ([]*registry.Instance, error)
	Count(ctx context.Context, f registry.Filter) (int, error)
	Services(ctx context.Context, f registry.Filter) ([]registry.ServiceSummary, error)
	InstanceEvents(ctx context.Context, id string, limit int) ([]registry.Event, error)
	Deregister(ctx context.Context, id string) (registry.Event, error)
	Revision(ctx context.Context) (int64, error)
	EventsAfter(ctx context.Context, after int64, limit int) ([]registry.Event, bool, error)
}

// Feed is the replica's change fan-out.
type Feed interface {
	Publish(ctx context.Context, ev registry.Event)
	Subscribe() (*feed.Sub, int64)
	IsActive(id string) bool
}

// Heartbeats records and reads heartbeats in the ephemeral store.
type Heartbeats interface {
	Record(ctx context.Context, id string, t time.Time) error
	Latest(ctx context.Context, ids []string) (map[string]time.Time, error)
}

// Verifier checks credentials with core. An invalid credential is a
// fault.Unauthorized error; core being unreachable is fault.Unavailable.
type Verifier interface {
	// VerifyKey returns the scopes of a Plugboard API key.
	VerifyKey(ctx context.Context, key string) (scopes []string, err error)
	// VerifyAccessToken returns the roles of a user's access token.
	VerifyAccessToken(ctx context.Context, token string) (roles []string, err error)
}

// Scopes of API keys the registry honours.
const (
	// WriteScope may register, heartbeat and deregister instances of any
	// name, and read; registry.ServiceScope(name) (registry:write:<name>)
	// may write instances of that name only, and does not read.
	WriteScope = "registry:write"
	// ReadScope may list, get and watch instances.
	ReadScope = "registry:read"
)

// ReadRoles are the roles whose access tokens may read the registry (the
// console's operators); plain users may not: instances' internal
// addresses and metadata are the platform's, not a tenant's.
var ReadRoles = []string{"super_admin", "tenant_admin"}

// Options configure the API.
type Options struct {
	// Token is the bootstrap bearer token every operation but the OpenAPI
	// document accepts, for any service name, besides API keys with
	// WriteScope or registry:write:<name> scopes (or ReadScope, for reads),
	// for reads the access tokens of ReadRoles and for deregistering those
	// of DeregisterRole.
	Token string
	// Keys verifies API keys (X-API-Key or Authorization: ApiKey …) and
	// access tokens; nil accepts the token only.
	Keys Verifier
	// ReservedNames are reserved in addition to ReservedNames().
	ReservedNames []string
	// Addresses limits where instances may point.
	Addresses AddressPolicy
	// Resilience caps what an instance may ask of the gateway's timeout
	// and retries; a registration above a cap is refused, naming the field
	// and the cap [nil: registry.DefaultResilienceLimits].
	Resilience *registry.ResilienceLimits
	// MaxBody caps request bodies (httpx.DefaultBodyLimit when 0).
	MaxBody int64
	// KeepAlive is how often an idle watch stream gets a comment [15s].
	KeepAlive time.Duration
	// Recheck is how long a watch stream opened with an API key or an
	// access token lasts before it is asked to reconnect, so that the
	// credential is verified again [the keep-alive period × 4]. Streams
	// opened with the registry token are not cut.
	Recheck time.Duration
}

// Server serves the registry API.
type Server struct {
	store  Store
	feed   Feed
	beats  Heartbeats
	logger *slog.Logger
	opt    Options
	valid  *validator
	token  [32]byte
	now    func() time.Time
}

// New returns the API over its dependencies.
func New(store Store, f Feed, beats Heartbeats, logger *slog.Logger, opt Options) *Server {
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = 15 * time.Second
	}
	if opt.Recheck <= 0 {
		opt.Recheck = 4 * opt.KeepAlive
	}
	return &Server{
		store: store, feed: f, beats: beats, logger: logger, opt: opt,
		valid: newValidator(opt.ReservedNames, opt.Addresses, opt.Resilience),
		token: sha256.Sum256([]byte(opt.Token)),
		now:   time.Now,
	}
}

// access is what a route needs of a credential.
type access int

const (
	accessRead       access = iota // list, get, watch
	accessWrite                    // register and heartbeat
	accessDeregister               // deregister: a write, or a super_admin's access token
)

// requireRead is requireCredential for reads.
func (s *Server) requireRead(next http.Handler) http.Handler {
	return s.requireCredential(accessRead)(next)
}

// requireWrite is requireCredential for register and heartbeat.
func (s *Server) requireWrite(next http.Handler) http.Handler {
	return s.requireCredential(accessWrite)(next)
}

// requireDeregister is requireCredential for deregister.
func (s *Server) requireDeregister(next http.Handler) http.Handler {
	return s.requireCredential(accessDeregister)(next)
}

// DeregisterRole is the role whose access tokens may deregister any
// instance (the console's operators' button); they never register.
const DeregisterRole = "super_admin"

// grant is the service names a write credential may act on: every name
// (the registry token, a registry:write key, a super_admin's access token
// deregistering), or those its registry:write:<name> scopes bind.
type grant struct {
	all   bool
	names []string
}

// allows reports whether g covers service name.
func (g grant) allows(name string) bool { return g.all || slices.Contains(g.names, name) }

// grantOf is what a key with scopes may write: every name with
// WriteScope, else the names its registry:write:<name> scopes bind (ok
// false when there are none).
func grantOf(scopes []string) (g grant, ok bool) {
	if slices.Contains(scopes, WriteScope) {
		return grant{all: true}, true
	}
	for _, sc := range scopes {
		if name, bound := registry.ScopeService(sc); bound {
			g.names = append(g.names, name)
		}
	}
	return g, len(g.names) > 0
}

// grantKey carries a write request's grant in its context.
type grantKey struct{}

// requireCredential admits requests that carry the registry token as a
// bearer credential, or an API key with WriteScope; for writes also an API
// key with a registry:write:<name> scope (limited to those names, which
// the handlers check with mayWrite), for deregister also the access token
// of a super_admin; for reads also an API key with ReadScope, or the
// access token of a user with one of ReadRoles. Anything else is 401 (no
// or a bad credential) or 403 (a valid one without the right), with
// WWW-Authenticate.
func (s *Server) requireCredential(need access) func(http.Handler) http.Handler {
	help := "an API key with the " + WriteScope + " or " + ReadScope + " scope (X-API-Key), the registry token, or the access token of a super_admin or tenant_admin (Authorization: Bearer)"
	switch need {
	case accessWrite:
		help = "an API key with the " + WriteScope + " or " + registry.ServiceScopePrefix + "<service> scope (X-API-Key), or the registry token (Authorization: Bearer)"
	case accessDeregister:
		help = "an API key with the " + WriteScope + " or " + registry.ServiceScopePrefix + "<service> scope (X-API-Key), the registry token, or a super_admin's access token (Authorization: Bearer)"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			kind, cred := credential.Parse(r.Header)
			var err error
			g := grant{all: true}
			verified := true // by core, so to be verified again now and then
			switch {
			case kind == credential.Invalid:
				err = fault.Errorf(fault.Unauthorized, "%s", credential.InvalidMessage)
			case kind == credential.APIKey && s.opt.Keys != nil:
				var have []string
				if have, err = s.opt.Keys.VerifyKey(r.Context(), cred); err == nil {
					err = keyAllows(have, need, &g)
				}
			case kind == credential.Bearer && s.isToken(cred):
				verified = false
			case kind == credential.Bearer && need != accessWrite && s.opt.Keys != nil && looksLikeJWT(cred):
				var roles []string
				if roles, err = s.opt.Keys.VerifyAccessToken(r.Context(), cred); err == nil {
					err = tokenAllows(roles, need)
				}
			default:
				err = fault.Errorf(fault.Unauthorized, "A registry credential is required: %s.", help)
			}
			if err != nil {
				s.refuse(w, r, err)
				return
			}
			ctx := r.Context()
			if verified {
				ctx = context.WithValue(ctx, recheckKey{}, true)
			}
			if need != accessRead {
				ctx = context.WithValue(ctx, grantKey{}, g)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// refuse writes err, with WWW-Authenticate when it refuses a credential
// (401) or its right (403).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case fault.Is(err, fault.Unauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard-registry"`)
	case fault.Is(err, fault.Forbidden):
		w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard-registry", error="insufficient_scope"`)
	}
	httpx.WriteError(w, r, s.logger, err)
}

// keyAllows reports, as a fault.Forbidden error, whether a key with
// scopes may do what need says; for a write it sets *g to the names the
// key may write.
func keyAllows(scopes []string, need access, g *grant) error {
	if need == accessRead {
		if slices.Contains(scopes, WriteScope) || slices.Contains(scopes, ReadScope) {
			return nil
		}
		return fault.Errorf(fault.Forbidden, "The API key lacks the %s or %s scope.", WriteScope, ReadScope)
	}
	var ok bool
	if *g, ok = grantOf(scopes); !ok {
		return fault.Errorf(fault.Forbidden, "The API key lacks the %s or a %s<service> scope.", WriteScope, registry.ServiceScopePrefix)
	}
	return nil
}

// tokenAllows reports, as a fault.Forbidden error, whether the access
// token of a user with roles may do what need says (a read or a
// deregistration).
func tokenAllows(roles []string, need access) error {
	switch {
	case need == accessDeregister && !slices.Contains(roles, DeregisterRole):
		return fault.Errorf(fault.Forbidden, "Deregistering with an access token needs the %s role.", DeregisterRole)
	case need == accessRead && !slices.ContainsFunc(ReadRoles, func(role string) bool { return slices.Contains(roles, role) }):
		return fault.Errorf(fault.Forbidden, "Reading the registry needs the %s role.", strings.Join(ReadRoles, " or "))
	}
	return nil
}

// mayWrite reports, as a fault.Forbidden error naming the service,
// whether the request's credential may act on instances of service name.
func mayWrite(r *http.Request, name string) error {
	if g, ok := r.Context().Value(grantKey{}).(grant); ok && g.allows(name) {
		return nil
	}
	return fault.Errorf(fault.Forbidden, "This credential may not act on service %q: that needs the registry token or an API key with the %s or %s scope.",
		name, WriteScope, registry.ServiceScope(name))
}

// limited reports whether the request's credential may write only some
// service names, so that a handler must learn an instance's name first.
func limited(r *http.Request) bool {
	g, _ := r.Context().Value(grantKey{}).(grant)
	return !g.all
}

// recheckKey marks a request context whose credential core verified.
type recheckKey struct{}

// isToken reports whether cred is the registry token, in constant time.
func (s *Server) isToken(cred string) bool {
	given := sha256.Sum256([]byte(cred))
	return s.opt.Token != "" && subtle.ConstantTimeCompare(given[:], s.token[:]) == 1
}

// looksLikeJWT reports whether cred has a JWT's three dot-separated parts,
// so that only such bearer credentials cost core a verification.
func looksLikeJWT(cred string) bool {
	return strings.Count(cred, ".") == 2 && len(cred) < 8192
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registry.Registration
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if err := mayWrite(r, req.Name); err != nil {
		s.refuse(w, r, err)
		return
	}
	in, err := s.valid.instance(r.Context(), req)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	ev, err := s.store.Register(r.Context(), in)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	s.feed.Publish(r.Context(), ev)
	if err := s.beats.Record(r.Context(), in.ID, in.LastHeartbeat); err != nil {
		s.logger.Warn("could not record the registration's heartbeat", slog.Any("error", err))
	}
	status := http.StatusOK
	if ev.Type == registry.EventRegistered {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/api/registry/services/"+in.ID)
	httpx.WriteJSON(w, status, in)
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ServiceID string `json:"service_id"`
	}
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if req.ServiceID == "" {
		httpx.WriteError(w, r, s.logger, fault.InvalidFields("The heartbeat is invalid.", map[string]string{"service_id": "is required"}))
		return
	}
	if limited(r) || !s.feed.IsActive(req.ServiceID) {
		// Not (yet) in this replica's view: the feed may lag a registration
		// made on another replica by a few milliseconds, so ask the store;
		// a credential limited to some names needs the instance's name.
		in, err := s.store.Get(r.Context(), req.ServiceID)
		if err == nil {
			err = mayWrite(r, in.Name)
		}
		if err == nil && !in.IsActive {
			err = fault.Errorf(fault.NotFound, "Service instance %q is not active; register again.", req.ServiceID)
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
	}
	now := s.now().UTC()
	if err := s.beats.Record(r.Context(), req.ServiceID, now); err != nil {
		httpx.WriteError(w, r, s.logger, fault.Wrap(err, fault.Unavailable, "The heartbeat could not be recorded; try again."))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"service_id": req.ServiceID, "status": "ok", "last_heartbeat": now})
}

func (s *Server) handleDeregister(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "service_id")
	if limited(r) {
		in, err := s.store.Get(r.Context(), id)
		if err == nil {
			err = mayWrite(r, in.Name)
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
	}
	ev, err := s.store.Deregister(r.Context(), id)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	s.feed.Publish(r.Context(), ev)
	httpx.WriteJSON(w, http.StatusOK, ev.Instance)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	f := registry.Filter{Name: q.Get("name"), Tag: q.Get("tag"), Version: q.Get("version")}
	switch v := q.Get("include_inactive"); v {
	case "", "false", "0":
	case "true", "1":
		f.IncludeInactive = true
	default:
		httpx.WriteError(w, r, s.logger, fault.InvalidFields("Invalid query.", map[string]string{"include_inactive": "must be true or false"}))
		return
	}
	paged := q.Has("limit") || q.Has("offset")
	if paged {
		if f.Limit, f.Offset, err = page(q, 0); err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
	}
	rev, err := s.store.Revision(r.Context())
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list, err := s.store.List(r.Context(), f)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if paged {
		total, err := s.store.Count(r.Context(), f)
		if err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(total))
	}
	s.freshen(r.Context(), list)
	w.Header().Set("X-Registry-Revision", formatInt(rev))
	httpx.WriteJSON(w, http.StatusOK, list)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	in, err := s.store.Get(r.Context(), chi.URLParam(r, "service_id"))
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	s.freshen(r.Context(), []*registry.Instance{in})
	httpx.WriteJSON(w, http.StatusOK, in)
}

// freshen replaces the stored last heartbeat (flushed to the database now
// and then) with a newer one from the ephemeral store.
func (s *Server) freshen(ctx context.Context, list []*registry.Instance) {
	if len(list) == 0 {
		return
	}
	ids := make([]string, 0, len(list))
	for _, in := range list {
		if in.IsActive {
			ids = append(ids, in.ID)
		}
	}
	latest, err := s.beats.Latest(ctx, ids)
	if err != nil {
		s.logger.Warn("could not read heartbeats", slog.Any("error", err))
		return
	}
	for _, in := range list {
		if t, ok := latest[in.ID]; ok && t.After(in.LastHeartbeat) {
			in.LastHeartbeat = t
		}
	}
}

//go:embed openapi.json
var openAPI []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}
