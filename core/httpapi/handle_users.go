package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
)

// scopeTenant returns the tenant a list or create request acts on: the
// caller's own, or for a super admin the asked one ("" meaning every tenant
// when allowAll, the super admin's own otherwise). Anyone else asking for
// another tenant gets not_found, as if it did not exist.
func scopeTenant(c *Caller, asked string, allowAll bool) (string, error) {
	if rbac.IsSuperAdmin(c.Subject) {
		if asked == "" && !allowAll {
			return c.TenantID, nil
		}
		return asked, nil
	}
	if asked != "" && asked != c.TenantID {
		return "", notFound("Tenant", asked)
	}
	return c.TenantID, nil
}

// queryTenant is r's query and the tenant its tenant_id asks for
// (scopeTenant).
func queryTenant(r *http.Request, c *Caller, allowAll bool) (url.Values, string, error) {
	q, err := httpx.Query(r)
	if err != nil {
		return nil, "", err
	}
	tenant, err := scopeTenant(c, q.Get("tenant_id"), allowAll)
	return q, tenant, err
}

// visibleUser loads a user the caller may see: their own record, or any of
// a tenant they manage. Others are not found.
func (s *Server) visibleUser(r *http.Request, id string) (*core.User, error) {
	c := CallerOf(r.Context())
	u, err := s.store.GetUser(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if u.ID != c.UserID && !rbac.CanManageUsers(c.Subject, u.TenantID) {
		return nil, notFound("User", id)
	}
	return u, nil
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	q, tenant, err := queryTenant(r, c, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if tenant != "" && !rbac.CanManageUsers(c.Subject, tenant) {
		s.fail(w, r, forbidden("Listing users needs the tenant_admin role."))
		return
	}
	f := core.UserFilter{}
	if tenant != "" {
		f.TenantID = &tenant
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, r, fault.InvalidFields("Invalid query.", map[string]string{"limit": "must be a non-negative integer"}))
			return
		}
		f.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, r, fault.InvalidFields("Invalid query.", map[string]string{"offset": "must be a non-negative integer"}))
			return
		}
		f.Offset = n
	}
	users, err := s.store.ListUsers(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, users)
}

type userRequest struct {
	TenantID string     `json:"tenant_id"`
	Username string     `json:"username"`
	Email    string     `json:"email"`
	Password string     `json:"password"`
	Role     *core.Role `json:"role"`
	IsActive *bool      `json:"is_active"`
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c := CallerOf(r.Context())
	tenant, err := scopeTenant(c, req.TenantID, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !rbac.CanManageUsers(c.Subject, tenant) {
		s.fail(w, r, forbidden("Creating users needs the tenant_admin role in their tenant."))
		return
	}
	role := core.RoleUser
	if req.Role != nil {
		role = *req.Role
	}
	if !rbac.CanAssignRole(c.Subject, string(role)) {
		s.fail(w, r, forbidden("Only a super_admin may create a super_admin."))
		return
	}
	if err := auth.ValidatePassword(req.Password); err != nil {
		s.fail(w, r, fault.InvalidFields("Invalid user.", map[string]string{"password": err.Error()}))
		return
	}
	hash, err := auth.HashPasswordCost(req.Password, s.opt.PasswordCost)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u := &core.User{TenantID: tenant, Username: req.Username, Email: req.Email, HashedPassword: hash, Role: role, IsActive: true}
	if req.IsActive != nil {
		u.IsActive = *req.IsActive
	}
	if err := s.store.CreateUser(r.Context(), u); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, u.TenantID, "user.create", "user", u.ID, map[string]any{"username": u.Username, "role": u.Role})
	w.Header().Set("Location", "/api/users/"+u.ID)
	httpx.WriteJSON(w, http.StatusCreated, u)
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.visibleUser(r, param(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, u)
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c := CallerOf(r.Context())
	u, err := s.visibleUser(r, param(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	admin := rbac.CanManageUsers(c.Subject, u.TenantID)
	if u.Role == core.RoleSuperAdmin && !rbac.IsSuperAdmin(c.Subject) {
		s.fail(w, r, forbidden("Only a super_admin may change a super_admin."))
		return
	}
	if !admin {
		s.fail(w, r, forbidden("Changing users needs the tenant_admin role; change your password at /api/auth/password."))
		return
	}
	bad := map[string]string{}
	if req.TenantID != "" && req.TenantID != u.TenantID {
		bad["tenant_id"] = "cannot change"
	}
	if req.Username != "" && core.NormalizeHandle(req.Username) != u.Username {
		bad["username"] = "cannot change"
	}
	if len(bad) > 0 {
		s.fail(w, r, fault.InvalidFields("Invalid user update.", bad))
		return
	}
	upd := core.UserUpdate{Role: req.Role, IsActive: req.IsActive}
	if req.Email != "" {
		upd.Email = &req.Email
	}
	if req.Role != nil && (!rbac.CanAssignRole(c.Subject, string(*req.Role)) || (u.Role == core.RoleSuperAdmin && !rbac.IsSuperAdmin(c.Subject))) {
		s.fail(w, r, forbidden("Only a super_admin may grant or take away super_admin."))
		return
	}
	if u.ID == c.UserID && (req.IsActive != nil && !*req.IsActive || req.Role != nil && *req.Role != u.Role) {
		s.fail(w, r, forbidden("You cannot deactivate yourself or change your own role."))
		return
	}
	if req.Password != "" {
		if err := auth.ValidatePassword(req.Password); err != nil {
			s.fail(w, r, fault.InvalidFields("Invalid user update.", map[string]string{"password": err.Error()}))
			return
		}
		hash, err := auth.HashPasswordCost(req.Password, s.opt.PasswordCost)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		upd.HashedPassword = &hash
	}
	updated, err := s.store.UpdateUser(r.Context(), u.ID, upd)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !updated.IsActive || upd.HashedPassword != nil || (upd.Role != nil && *upd.Role != u.Role) {
		if err := s.id.EndUserSessions(r.Context(), u.ID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.audit(r, u.TenantID, "user.update", "user", u.ID, map[string]any{
		"email_changed": upd.Email != nil, "password_changed": upd.HashedPassword != nil, "role": upd.Role, "is_active": upd.IsActive})
	httpx.WriteJSON(w, http.StatusOK, updated)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	u, err := s.visibleUser(r, param(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case !rbac.CanManageUsers(c.Subject, u.TenantID):
		err = forbidden("Deleting users needs the tenant_admin role.")
	case u.ID == c.UserID:
		err = forbidden("You cannot delete yourself.")
	case u.Role == core.RoleSuperAdmin && !rbac.IsSuperAdmin(c.Subject):
		err = forbidden("Only a super_admin may delete a super_admin.")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.DeleteUser(r.Context(), u.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, u.TenantID, "user.delete", "user", u.ID, map[string]any{"username": u.Username})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleListAudit(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	q, tenant, err := queryTenant(r, c, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !rbac.CanReadAudit(c.Subject, tenant) {
		s.fail(w, r, forbidden("Reading the audit log needs the tenant_admin role."))
		return
	}
	f := core.AuditFilter{}
	if tenant != "" || !rbac.IsSuperAdmin(c.Subject) {
		f.TenantID = &tenant
	}
	bad := map[string]string{}
	for name, p := range map[string]**string{"actor": &f.Actor, "action": &f.Action, "object_type": &f.ObjectType, "object_id": &f.ObjectID} {
		if v, ok := q[name]; ok {
			*p = &v[0]
		}
	}
	if a := f.Action; a != nil && (*a == ".*" || strings.Contains(strings.TrimSuffix(*a, ".*"), "*")) {
		bad["action"] = `must be an action (user.update) or a prefix ending in ".*" (user.*)`
	}
	for name, p := range map[string]**time.Time{"from": &f.From, "to": &f.To, "before": &f.Before} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				bad[name] = "must be an RFC 3339 time"
			}
			*p = &t
		}
	}
	if f.From != nil && f.To != nil && bad["from"] == "" && bad["to"] == "" && !f.To.After(*f.From) {
		bad["to"] = "must be after from"
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad["limit"] = "must be between 1 and 1000"
		}
		f.Limit = n
	}
	if len(bad) > 0 {
		s.fail(w, r, fault.InvalidFields("Invalid query.", bad))
		return
	}
	entries, err := s.store.ListAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, entries)
}
