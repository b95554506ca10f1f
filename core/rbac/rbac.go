// Package rbac is Plugboard's access policy: which subject may do what to
// which tenant. It is pure (no I/O, no state) so that core's HTTP handlers
// and the gateway apply the same rules, and every rule is one small
// function with a table test.
//
// There are three roles. A super_admin runs the platform and may do
// anything in any tenant. A tenant_admin manages their own tenant: its
// users, roles below super_admin, configuration and audit log. A user may
// read their tenant's configuration. Nobody but a super_admin ever acts on
// another tenant.
package rbac

import "slices"

// Role names, as tokens and API-key verifications carry them (the same
// strings as core.Role).
const (
	SuperAdmin  = "super_admin"
	TenantAdmin = "tenant_admin"
	User        = "user"
)

// Subject is who is asking: an authenticated user (or API key) of a tenant,
// with its roles.
type Subject struct {
	UserID, TenantID string
	Roles            []string
}

// HasRole reports whether s has role.
func (s Subject) HasRole(role string) bool { return slices.Contains(s.Roles, role) }

// IsSuperAdmin reports whether s is a platform administrator.
func IsSuperAdmin(s Subject) bool { return s.HasRole(SuperAdmin) }

// HasAnyRole reports whether s has at least one of roles; an empty list
// asks for none, so it holds for everyone. A super_admin is not special
// here: callers that let super admins through say so.
func HasAnyRole(s Subject, roles []string) bool {
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if s.HasRole(r) {
			return true
		}
	}
	return false
}

// member reports whether s belongs to tenantID (a non-empty one).
func member(s Subject, tenantID string) bool {
	return tenantID != "" && s.TenantID == tenantID
}

// ownTenantAdmin reports whether s is a tenant_admin of tenantID.
func ownTenantAdmin(s Subject, tenantID string) bool {
	return member(s, tenantID) && s.HasRole(TenantAdmin)
}

// CanManageTenant reports whether s may change tenant tenantID's settings:
// a super_admin any tenant, a tenant_admin their own.
func CanManageTenant(s Subject, tenantID string) bool {
	return IsSuperAdmin(s) || ownTenantAdmin(s, tenantID)
}

// CanCreateTenant reports whether s may create (or delete) tenants: only a
// super_admin.
func CanCreateTenant(s Subject) bool { return IsSuperAdmin(s) }

// CanManageUsers reports whether s may create, change and remove the users
// and API keys of tenant tenantID: a super_admin any tenant, a
// tenant_admin their own.
func CanManageUsers(s Subject, tenantID string) bool {
	return IsSuperAdmin(s) || ownTenantAdmin(s, tenantID)
}

// CanAssignRole reports whether s may give role to someone (in a tenant s
// may manage users of, which callers check with CanManageUsers): a
// super_admin any role, a tenant_admin tenant_admin or user. Unknown roles
// are never assignable.
func CanAssignRole(s Subject, role string) bool {
	switch role {
	case SuperAdmin:
		return IsSuperAdmin(s)
	case TenantAdmin, User:
		return IsSuperAdmin(s) || s.HasRole(TenantAdmin)
	}
	return false
}

// CanReadAudit reports whether s may read tenant tenantID's audit log: a
// super_admin any tenant's, a tenant_admin their own. tenantID "" is the
// platform-wide log, which only a super_admin reads.
func CanReadAudit(s Subject, tenantID string) bool {
	return IsSuperAdmin(s) || ownTenantAdmin(s, tenantID)
}

// CanWriteConfig reports whether s may change configuration: tenantID ""
// is the global configuration, which only a super_admin changes; a
// tenant's configuration is changed by a super_admin or that tenant's
// tenant_admin.
func CanWriteConfig(s Subject, tenantID string) bool {
	return IsSuperAdmin(s) || ownTenantAdmin(s, tenantID)
}

// CanWriteReservedConfig reports whether s may write, delete or roll back
// a configuration key the platform itself reads (corefeed.ReservedKeyPrefix,
// "plugboard."), in any scope: only a super_admin, even in a tenant's own
// configuration.
func CanWriteReservedConfig(s Subject) bool { return IsSuperAdmin(s) }

// CanFollowChanges reports whether s may follow core's change feed with its
// own credential (gateways use the feed token): only a super_admin.
func CanFollowChanges(s Subject) bool { return IsSuperAdmin(s) }

// CanReadConfig reports whether s may read configuration: the global
// configuration (tenantID "") any authenticated subject, a tenant's any
// member of it and any super_admin.
func CanReadConfig(s Subject, tenantID string) bool {
	if tenantID == "" {
		return s.UserID != "" || s.TenantID != ""
	}
	return IsSuperAdmin(s) || member(s, tenantID)
}
