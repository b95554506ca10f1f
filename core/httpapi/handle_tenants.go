package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/registry"
)

// visibleTenant loads a tenant the caller belongs to, or any for a super
// admin; others are not found.
func (s *Server) visibleTenant(r *http.Request, id string) (*core.Tenant, error) {
	c := CallerOf(r.Context())
	if !rbac.CanReadTenant(c.Subject, id) {
		return nil, notFound("Tenant", id)
	}
	return s.store.GetTenant(r.Context(), id)
}

func (s *Server) handleListTenants(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	if rbac.IsSuperAdmin(c.Subject) {
		list, err := s.store.ListTenants(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, list)
		return
	}
	t, err := s.store.GetTenant(r.Context(), c.TenantID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, []*core.Tenant{t})
}

type tenantRequest struct {
	Name            string           `json:"name"`
	DisplayName     *string          `json:"display_name" nullable:"true"`
	Config          *json.RawMessage `json:"config" nullable:"true"`
	EnabledServices *[]string        `json:"enabled_services" nullable:"true"`
	IsActive        *bool            `json:"is_active" nullable:"true"`
	// RateLimit is the tenant's quota: an object, or null for none
	// (absent: unchanged).
	RateLimit json.RawMessage `json:"rate_limit"`
}

// rateLimitField reads a request's rate_limit: set reports whether it was
// present (null: none).
func rateLimitField(raw json.RawMessage) (set bool, l *registry.RateLimit, err error) {
	if raw == nil {
		return false, nil, nil
	}
	if string(raw) == "null" {
		return true, nil, nil
	}
	l = new(registry.RateLimit)
	if err := json.Unmarshal(raw, l); err != nil {
		return false, nil, fault.InvalidFields("Invalid rate_limit.", map[string]string{"rate_limit": "must be an object"})
	}
	return true, l, nil
}

func (s *Server) handleCreateTenant(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	if !rbac.CanCreateTenant(c.Subject) {
		s.fail(w, r, forbidden("Only a super_admin may create tenants."))
		return
	}
	var req tenantRequest
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.RateLimit != nil {
		s.fail(w, r, fault.InvalidFields("Invalid tenant.", map[string]string{"rate_limit": "is set with PATCH /api/tenants/{id} once the tenant exists"}))
		return
	}
	t := &core.Tenant{Name: req.Name, IsActive: true}
	if req.DisplayName != nil {
		t.DisplayName = *req.DisplayName
	}
	if req.Config != nil {
		t.Config = *req.Config
	}
	if req.EnabledServices != nil {
		t.EnabledServices = *req.EnabledServices
	}
	if req.IsActive != nil {
		t.IsActive = *req.IsActive
	}
	if err := s.store.CreateTenant(r.Context(), t); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, t.ID, "tenant.create", "tenant", t.ID, map[string]any{"name": t.Name})
	w.Header().Set("Location", "/api/tenants/"+t.ID)
	httpx.WriteJSON(w, http.StatusCreated, t)
}

func (s *Server) handleGetTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.visibleTenant(r, param(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, t)
}

// handleUpdateTenant lets a tenant admin change the display name and
// config of their tenant; enabling services and (de)activating tenants is
// the super admin's.
func (s *Server) handleUpdateTenant(w http.ResponseWriter, r *http.Request) {
	var req tenantRequest
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c := CallerOf(r.Context())
	t, err := s.visibleTenant(r, param(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !rbac.CanManageTenant(c.Subject, t.ID) {
		s.fail(w, r, forbidden("Changing a tenant needs the tenant_admin role."))
		return
	}
	if req.EnabledServices != nil && !rbac.CanEnableServices(c.Subject, t.ID) {
		s.fail(w, r, forbidden("Enabling services for a tenant needs the super_admin role, or tenant_admin of that tenant."))
		return
	}
	if req.IsActive != nil && !rbac.CanActivateTenant(c.Subject) {
		s.fail(w, r, forbidden("Only a super_admin may (de)activate a tenant."))
		return
	}
	setQuota, quota, err := rateLimitField(req.RateLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if setQuota && !rbac.CanSetTenantQuota(c.Subject) {
		s.fail(w, r, forbidden("Only a super_admin may set a tenant's rate limit."))
		return
	}
	if req.IsActive != nil && !*req.IsActive && t.ID == c.TenantID {
		// Deactivating your own tenant locks you out with it — on a fresh
		// install, every super admin.
		s.fail(w, r, forbidden("You cannot deactivate your own tenant."))
		return
	}
	if req.Name != "" && core.NormalizeHandle(req.Name) != t.Name {
		s.fail(w, r, fault.InvalidFields("Invalid tenant update.", map[string]string{"name": "cannot change"}))
		return
	}
	updated, err := s.store.UpdateTenant(r.Context(), t.ID, core.TenantUpdate{
		DisplayName: req.DisplayName, Config: req.Config, EnabledServices: req.EnabledServices, IsActive: req.IsActive,
		SetRateLimit: setQuota, RateLimit: quota})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, t.ID, "tenant.update", "tenant", t.ID, map[string]any{
		"display_name": req.DisplayName, "config_changed": req.Config != nil, "enabled_services": req.EnabledServices, "is_active": req.IsActive,
		"rate_limit": req.RateLimit})
	// A quota change is a tenant.changed on core's change feed (written by
	// the store with the update), so every gateway drops its answers at once.
	httpx.WriteJSON(w, http.StatusOK, updated)
}

func (s *Server) handleDeleteTenant(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	if !rbac.CanCreateTenant(c.Subject) {
		s.fail(w, r, forbidden("Only a super_admin may delete tenants."))
		return
	}
	id := param(r, "id")
	if id == c.TenantID {
		s.fail(w, r, forbidden("You cannot delete your own tenant."))
		return
	}
	if err := s.store.DeleteTenant(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, id, "tenant.delete", "tenant", id, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleEnableService(w http.ResponseWriter, r *http.Request) {
	s.setService(w, r, true)
}

func (s *Server) handleDisableService(w http.ResponseWriter, r *http.Request) {
	s.setService(w, r, false)
}

func (s *Server) setService(w http.ResponseWriter, r *http.Request, enable bool) {
	c := CallerOf(r.Context())
	if !rbac.CanEnableServices(c.Subject, param(r, "id")) {
		s.fail(w, r, forbidden("Enabling services for a tenant needs the super_admin role, or tenant_admin of that tenant."))
		return
	}
	name := param(r, "name")
	if err := core.ValidateServiceName("name", name); err != nil {
		s.fail(w, r, err) // disabling a name no tenant can have is bad input too
		return
	}
	updated, err := s.store.SetTenantService(r.Context(), param(r, "id"), name, enable)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t := updated
	action := "tenant.service.enable"
	if !enable {
		action = "tenant.service.disable"
	}
	s.audit(r, t.ID, action, "tenant", t.ID, map[string]any{"service": name})
	httpx.WriteJSON(w, http.StatusOK, updated)
}
