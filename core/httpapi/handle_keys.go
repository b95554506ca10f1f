package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/registry"
)

// scopePattern is what an API key scope looks like: registry:write,
// orders:read, … (besides registry:write:<service>, which binds a key to
// one service name: registry.ScopeService).
var scopePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}(:[a-z0-9_.*-]{1,63})?$`)

// errKeyWithoutUser refuses key management to a tenant-wide API key: keys
// are managed by people.
var errKeyWithoutUser = fault.Errorf(fault.Forbidden, "API keys are managed by users; a tenant-wide API key cannot manage keys.")

// visibleKey loads a key the caller may see: one of their own, or any of a
// tenant they manage.
func (s *Server) visibleKey(r *http.Request, id string) (*core.APIKey, error) {
	c := CallerOf(r.Context())
	if c.UserID == "" {
		return nil, errKeyWithoutUser
	}
	k, err := s.store.GetAPIKey(r.Context(), id)
	if err != nil {
		return nil, err
	}
	own := k.UserID == c.UserID && k.TenantID == c.TenantID
	if !own && !rbac.CanManageTenant(c.Subject, k.TenantID) {
		return nil, notFound("API key", id)
	}
	if !own && k.UserID != "" && !rbac.IsSuperAdmin(c.Subject) {
		// A super admin's keys are theirs alone, whatever tenant they sit in.
		if owner, err := s.store.GetUser(r.Context(), k.UserID); err == nil && owner.Role == core.RoleSuperAdmin {
			return nil, notFound("API key", id)
		}
	}
	return k, nil
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	if c.UserID == "" {
		s.fail(w, r, errKeyWithoutUser)
		return
	}
	_, tenant, err := queryTenant(r, c, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys, err := s.store.ListAPIKeys(r.Context(), tenant)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !rbac.CanManageTenant(c.Subject, tenant) { // a plain user sees their own keys
		own := keys[:0]
		for _, k := range keys {
			if k.UserID == c.UserID {
				own = append(own, k)
			}
		}
		keys = own
	}
	httpx.WriteJSON(w, http.StatusOK, keys)
}

// handleCreateKey creates a key and shows its secret this once. A user's
// key acts as that user; a tenant admin may create keys of the tenant
// itself (for machines) by setting "tenant_key": true.
func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TenantID  string     `json:"tenant_id"`
		Name      string     `json:"name"`
		Scopes    []string   `json:"scopes"`
		ExpiresAt *time.Time `json:"expires_at" nullable:"true"`
		TenantKey bool       `json:"tenant_key"`
		// RateLimit is the key's quota (absent or null: none).
		RateLimit json.RawMessage `json:"rate_limit"`
	}
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c := CallerOf(r.Context())
	if c.UserID == "" {
		s.fail(w, r, errKeyWithoutUser)
		return
	}
	tenant, err := scopeTenant(c, req.TenantID, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !rbac.CanWriteKeys(c.Subject, c.Credential()) {
		s.fail(w, r, forbidden("An API key creates keys only with the "+AdminScope+" scope."))
		return
	}
	bad := map[string]string{}
	for i, sc := range req.Scopes {
		field := "scopes[" + strconv.Itoa(i) + "]"
		_, bound := registry.ScopeService(sc)
		switch {
		case strings.HasPrefix(sc, registry.ServiceScopePrefix) && !bound:
			bad[field] = "must name a service: " + registry.ServiceScopePrefix + "<name>, the name 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
		case !bound && !scopePattern.MatchString(sc):
			bad[field] = "must look like registry:write, registry:write:orders or orders:read"
		case strings.HasPrefix(sc, "registry:") && !rbac.IsSuperAdmin(c.Subject):
			// Service names are platform-wide: who registers, routes for all.
			bad[field] = "registry scopes are granted by a super_admin only"
		case c.APIKeyID != "" && !slices.Contains(c.Scopes, sc):
			bad[field] = "a key cannot grant a scope it does not hold"
		}
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(time.Now()) {
		bad["expires_at"] = "must be in the future"
	}
	if c.APIKeyID != "" {
		// A key never outlives the key that made it: it expires with its
		// parent unless it asks for sooner.
		parent, err := s.store.GetAPIKey(r.Context(), c.APIKeyID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case parent.ExpiresAt == nil:
		case req.ExpiresAt == nil:
			req.ExpiresAt = parent.ExpiresAt
		case req.ExpiresAt.After(*parent.ExpiresAt):
			bad["expires_at"] = "must not be later than the expiry of the API key that creates it (" + parent.ExpiresAt.UTC().Format(time.RFC3339) + ")"
		}
	}
	if len(bad) > 0 {
		s.fail(w, r, fault.InvalidFields("Invalid API key.", bad))
		return
	}
	userID := c.UserID
	if req.TenantKey {
		if !rbac.CanManageTenant(c.Subject, tenant) {
			s.fail(w, r, forbidden("Tenant keys need the tenant_admin role."))
			return
		}
		userID = ""
	} else if tenant != c.TenantID {
		s.fail(w, r, fault.InvalidFields("Invalid API key.", map[string]string{"tenant_id": "a personal key belongs to your own tenant; set tenant_key for another tenant's"}))
		return
	}
	_, quota, err := rateLimitField(req.RateLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret, prefix, hash, err := auth.NewAPIKey()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k := &core.APIKey{TenantID: tenant, UserID: userID, Name: req.Name, Prefix: prefix, KeyHash: hash,
		Scopes: req.Scopes, ExpiresAt: req.ExpiresAt, RateLimit: quota}
	if err := s.store.CreateAPIKey(r.Context(), k); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, tenant, "api_key.create", "api_key", k.ID, map[string]any{"name": k.Name, "prefix": k.Prefix, "scopes": k.Scopes, "rate_limit": k.RateLimit})
	w.Header().Set("Location", "/api/api-keys/"+k.ID)
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{"api_key": k, "key": secret})
}

func (s *Server) handleGetKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.visibleKey(r, param(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, k)
}

func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.visibleKey(r, param(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.RevokeAPIKey(r.Context(), k.ID, time.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, k.TenantID, "api_key.revoke", "api_key", k.ID, map[string]any{"name": k.Name, "prefix": k.Prefix})
	w.WriteHeader(http.StatusNoContent)
}
