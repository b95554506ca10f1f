// Package httpapi is core's HTTP API: authentication (login, refresh,
// logout, me, password, JWKS, credential verification for the gateway),
// users, tenants and their enabled services, API keys, the configuration
// center and the audit log. Every error is RFC 9457 problem+json. Tenant
// admins only ever see their own tenant: another tenant's objects answer 404.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/identity"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
)

// Store is the part of the core store the API uses directly.
type Store interface {
	core.TenantStore
	core.UserStore
	core.APIKeyStore
	core.AuditStore
	core.ConfigStore
	core.ChangeStore
}

// Identity is the credential service.
type Identity interface {
	Login(ctx context.Context, tenantName, username, password, remoteAddr string) (*identity.Tokens, *core.User, error)
	Refresh(ctx context.Context, refreshToken string) (*identity.Tokens, error)
	Logout(ctx context.Context, refreshToken, sessionID string) error
	EndUserSessions(ctx context.Context, userID string) error
	// Authenticate verifies an access token and returns its claims as the
	// store knows the user now (current role; an error for a deactivated
	// user or tenant).
	Authenticate(ctx context.Context, token string) (*auth.Claims, error)
	IdentityOf(ctx context.Context, c *auth.Claims) (*identity.Identity, error)
	VerifyAPIKey(ctx context.Context, key string) (*identity.Identity, error)
	JWKS() auth.JWKS
}

// Options configure the API.
type Options struct {
	// DefaultTenant is the tenant a login names when it names none.
	DefaultTenant string
	// MaxBody caps request bodies (httpx.DefaultBodyLimit when 0).
	MaxBody int64
	// TrustedProxies are the peers (the gateway) whose X-Forwarded-For names
	// the client, for login throttling and the audit log
	// (httpx.DefaultTrustedProxies when nil).
	TrustedProxies []netip.Prefix
	// PasswordCost is the bcrypt cost of new password hashes (12 when 0).
	PasswordCost int
	// Changes carries configuration-change notifications between replicas
	// (the configuration center's watch).
	Changes ephemeral.PubSub
	// WatchResync is how often a configuration watch compares what it has
	// sent with the database, so that a change whose notification was lost
	// (Redis down or reconnecting) still reaches the client, as a reconnect
	// [5s].
	WatchResync time.Duration
	// Feed is this replica's change hub, which GET /api/auth/changes
	// streams (503 when nil).
	Feed Feed
	// FeedToken is the bearer token that may follow the change feed
	// (besides a super_admin's credential); "" accepts none.
	FeedToken string
	// ReservedValidators check the values written under reserved
	// configuration keys (corefeed.ReservedKeyPrefix), by key
	// (core.ReservedConfigValidators when nil); a reserved key without one
	// takes any JSON value.
	ReservedValidators map[string]func(value json.RawMessage) error
}

// Server serves core's API.
type Server struct {
	store  Store
	id     Identity
	logger *slog.Logger
	opt    Options
}

// New returns the API over its dependencies.
func New(store Store, id Identity, logger *slog.Logger, opt Options) *Server {
	if opt.DefaultTenant == "" {
		opt.DefaultTenant = "default"
	}
	if opt.PasswordCost <= 0 {
		opt.PasswordCost = 12
	}
	if opt.TrustedProxies == nil {
		opt.TrustedProxies = httpx.DefaultTrustedProxies
	}
	if opt.WatchResync <= 0 {
		opt.WatchResync = 5 * time.Second
	}
	if opt.ReservedValidators == nil {
		opt.ReservedValidators = core.ReservedConfigValidators()
	}
	return &Server{store: store, id: id, logger: logger, opt: opt}
}

type subjectKey struct{}

// Caller is the authenticated caller of a request.
type Caller struct {
	rbac.Subject
	Username  string
	SessionID string   // of an access token
	APIKeyID  string   // of an API key
	Scopes    []string // of an API key
}

// Credential is what the caller presented, for the rules of rbac that
// depend on it.
func (c *Caller) Credential() rbac.Credential {
	return rbac.Credential{APIKey: c.APIKeyID != "", Scopes: c.Scopes}
}

// CallerOf returns the caller the authenticate middleware stored.
func CallerOf(ctx context.Context) *Caller {
	c, _ := ctx.Value(subjectKey{}).(*Caller)
	return c
}

// authenticate admits requests with a valid access token, or an API key
// (X-API-Key or Authorization: ApiKey …), which acts with the roles
// rbac.KeyRoles gives it: its user's with core:admin, otherwise none (and a
// tenant key, with no user, none either), so it may read its tenant's
// configuration but manage nothing.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		kind, _ := credential.Parse(r.Header)
		switch kind {
		case credential.None:
			w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard"`)
			err = fault.Errorf(fault.Unauthorized, "%s", credential.MissingMessage)
		case credential.Invalid:
			w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard", error="invalid_request"`)
			err = fault.Errorf(fault.Unauthorized, "%s", credential.InvalidMessage)
		}
		var c *Caller
		if err == nil {
			if c, err = s.callerOf(r.Context(), r.Header); err != nil && kind == credential.Bearer {
				w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard", error="invalid_token"`)
			}
		}
		if err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, c)))
	})
}

// callerOf verifies the credential in hd (an API key or an access token;
// other kinds are the caller's to refuse) and answers who it speaks for
// now: a deactivated user or tenant, a revoked key, is refused at once.
// Without core:admin a key acts with no role (rbac.KeyRoles): it reads its
// tenant's configuration and manages nothing.
func (s *Server) callerOf(ctx context.Context, hd http.Header) (*Caller, error) {
	kind, cred := credential.Parse(hd)
	switch kind {
	case credential.APIKey:
		id, err := s.id.VerifyAPIKey(ctx, cred)
		if err != nil {
			return nil, err
		}
		return &Caller{Subject: rbac.Subject{UserID: id.UserID, TenantID: id.TenantID, Roles: rbac.KeyRoles(id.Roles, id.Scopes)},
			Username: id.Username, APIKeyID: id.APIKeyID, Scopes: id.Scopes}, nil
	case credential.Bearer:
		claims, err := s.id.Authenticate(ctx, cred)
		if err != nil {
			return nil, err
		}
		return &Caller{Subject: rbac.Subject{UserID: claims.Subject, TenantID: claims.TenantID, Roles: claims.Roles},
			Username: claims.Username, SessionID: claims.SessionID}, nil
	}
	return nil, fault.Errorf(fault.Unauthorized, "%s", credential.InvalidMessage)
}

// AdminScope is the API-key scope that lets a key act with its user's role
// in core's API; without it a key only reads.
const AdminScope = rbac.AdminScope

// audit appends an audit entry for a write the caller made; a failure to
// record is logged, not returned (the write already happened).
func (s *Server) audit(r *http.Request, tenantID, action, objectType, objectID string, details any) {
	e := &core.AuditEntry{TenantID: tenantID, Action: action, ObjectType: objectType, ObjectID: objectID,
		RemoteAddr: s.clientIP(r), RequestID: httpx.RequestID(r.Context())}
	if c := CallerOf(r.Context()); c != nil {
		e.ActorID, e.ActorName = c.UserID, c.Username
	}
	if details != nil {
		e.Details, _ = json.Marshal(details)
	}
	if err := s.store.AppendAudit(r.Context(), e); err != nil {
		s.logger.Error("could not append to the audit log", slog.String("action", action), slog.Any("error", err))
	}
}

// clientIP is the address of the client behind the gateway.
func (s *Server) clientIP(r *http.Request) string { return httpx.ClientIP(r, s.opt.TrustedProxies) }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, s.logger, err)
}

// notFound is the answer for objects of other tenants, too.
func notFound(what, id string) error {
	return fault.Errorf(fault.NotFound, "%s %q not found.", what, id)
}

func forbidden(msg string) error { return fault.Errorf(fault.Forbidden, "%s", msg) }

func param(r *http.Request, name string) string { return chi.URLParam(r, name) }
