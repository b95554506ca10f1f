package rbac

import "slices"

// Permission codes: what a caller may do in its own tenant, as the console
// reads them (GET /api/auth/me "permissions") to decide which menus and
// buttons to show. Each is derived from the rules in this package, so the
// console never restates a role rule; the server still checks every
// request.
const (
	DashboardRead      = "dashboard:read"      // the overview: any authenticated caller
	ServicesRead       = "services:read"       // the registry's instances
	ServicesDeregister = "services:deregister" // remove instances from the registry
	ServicesEnable     = "services:enable"     // enable or disable a service for a tenant
	TenantsRead        = "tenants:read"        // the caller's tenant (a super_admin: every tenant)
	TenantsWrite       = "tenants:write"       // create and delete tenants
	UsersRead          = "users:read"          // list the tenant's users
	UsersWrite         = "users:write"         // create, change and remove the tenant's users
	KeysRead           = "keys:read"           // list API keys (a plain user: their own)
	KeysWrite          = "keys:write"          // create API keys
	ConfigRead         = "config:read"         // the tenant's and the global configuration
	ConfigWrite        = "config:write"        // change the tenant's configuration
	ConfigWriteGlobal  = "config:write_global" // change the global configuration
	AuditRead          = "audit:read"          // the tenant's audit log
	TrafficRead        = "traffic:read"        // the gateway's traffic figures
)

// AllPermissions lists every permission code, in the order Permissions
// returns them.
var AllPermissions = []string{
	DashboardRead, ServicesRead, ServicesDeregister, ServicesEnable,
	TenantsRead, TenantsWrite, UsersRead, UsersWrite, KeysRead, KeysWrite,
	ConfigRead, ConfigWrite, ConfigWriteGlobal, AuditRead, TrafficRead,
}

// API-key scopes the rules below read.
const (
	// AdminScope lets an API key act with its user's roles, in core's API
	// and at the gateway alike (KeyRoles); without it a key acts with no
	// role (it reads its tenant's configuration and its own keys, manages
	// nothing, and passes no plugin endpoint with required_roles).
	AdminScope = "core:admin"
	// RegistryWriteScope lets a key register, heartbeat and deregister
	// instances of any service name in the registry, and read it. A key
	// with registry:write:<service> scopes instead (registry.ServiceScope)
	// writes those services' instances only and reads nothing: the rules
	// below grant it neither services:read nor services:deregister.
	RegistryWriteScope = "registry:write"
	// RegistryReadScope lets a key read the registry.
	RegistryReadScope = "registry:read"
)

// RegistryReadRoles are the roles whose access tokens may read the
// registry (the registry's ReadRoles; a test pins the two).
var RegistryReadRoles = []string{SuperAdmin, TenantAdmin}

// TrafficReadRoles are the roles that may read the gateway's traffic
// figures.
var TrafficReadRoles = []string{SuperAdmin, TenantAdmin}

// Credential is what a subject presented: an access token (APIKey false)
// or an API key with its scopes. The subject's roles are the ones it acts
// with (for a key without AdminScope, none).
type Credential struct {
	APIKey bool
	Scopes []string
}

// KeyRoles returns the roles an API key acts with, wherever it is
// presented (core's API, the gateway and so the plugins behind it): its
// user's roles when its scopes hold AdminScope, otherwise none. Other
// scopes grant no role; plugins read them from X-Plugboard-Scopes.
func KeyRoles(userRoles, scopes []string) []string {
	if slices.Contains(scopes, AdminScope) {
		return userRoles
	}
	return nil
}

func (c Credential) hasScope(scope string) bool { return c.APIKey && slices.Contains(c.Scopes, scope) }

// authenticated reports whether s is someone: a user or a tenant-wide key.
func authenticated(s Subject) bool { return s.UserID != "" || s.TenantID != "" }

// CanReadTenant reports whether s may read tenant tenantID: a super_admin
// any tenant, anyone their own.
func CanReadTenant(s Subject, tenantID string) bool { return IsSuperAdmin(s) || member(s, tenantID) }

// CanEnableServices reports whether s may enable or disable services for
// tenant tenantID: a super_admin for any tenant, a tenant_admin for their
// own (the console's services page is where they look for it).
func CanEnableServices(s Subject, tenantID string) bool {
	return IsSuperAdmin(s) || ownTenantAdmin(s, tenantID)
}

// CanActivateTenant reports whether s may deactivate or reactivate a
// tenant: only a super_admin.
func CanActivateTenant(s Subject) bool { return IsSuperAdmin(s) }

// CanSetTenantQuota reports whether s may set a tenant's rate-limit quota:
// only a super_admin (a tenant_admin may not lift their own).
func CanSetTenantQuota(s Subject) bool { return IsSuperAdmin(s) }

// CanReadServices reports whether s, presenting cred, may read the
// registry: the access token of one of RegistryReadRoles, or an API key
// with a registry scope.
func CanReadServices(s Subject, cred Credential) bool {
	if cred.APIKey {
		return cred.hasScope(RegistryReadScope) || cred.hasScope(RegistryWriteScope)
	}
	return HasAnyRole(s, RegistryReadRoles)
}

// CanDeregisterServices reports whether s, presenting cred, may remove
// instances from the registry: the access token of a super_admin, or an
// API key with RegistryWriteScope (the registry honours keys by scope, not
// role; the registry token, the other writer, is no subject).
func CanDeregisterServices(s Subject, cred Credential) bool {
	if cred.APIKey {
		return cred.hasScope(RegistryWriteScope)
	}
	return IsSuperAdmin(s)
}

// CanReadKeys reports whether s may list API keys: any user (a plain user
// sees their own); a tenant-wide key has no user and manages no keys.
func CanReadKeys(s Subject) bool { return s.UserID != "" }

// CanWriteKeys reports whether s, presenting cred, may create API keys:
// any user (a plain user their own), through an API key only one with
// AdminScope.
func CanWriteKeys(s Subject, cred Credential) bool {
	return CanReadKeys(s) && (!cred.APIKey || cred.hasScope(AdminScope))
}

// CanReadTraffic reports whether s may read the gateway's traffic figures:
// one of TrafficReadRoles.
func CanReadTraffic(s Subject) bool { return HasAnyRole(s, TrafficReadRoles) }

// Permissions lists what s, presenting cred, may do in its own tenant, as
// permission codes in the order of AllPermissions. Someone with no tenant
// and no user (no subject at all) may do nothing.
func Permissions(s Subject, cred Credential) []string {
	if !authenticated(s) {
		return []string{}
	}
	own := s.TenantID
	granted := map[string]bool{
		DashboardRead:      true,
		ServicesRead:       CanReadServices(s, cred),
		ServicesDeregister: CanDeregisterServices(s, cred),
		ServicesEnable:     CanEnableServices(s, own),
		TenantsRead:        CanReadTenant(s, own),
		TenantsWrite:       CanCreateTenant(s),
		UsersRead:          CanManageUsers(s, own),
		UsersWrite:         CanManageUsers(s, own),
		KeysRead:           CanReadKeys(s),
		KeysWrite:          CanWriteKeys(s, cred),
		ConfigRead:         CanReadConfig(s, own),
		ConfigWrite:        CanWriteConfig(s, own),
		ConfigWriteGlobal:  CanWriteConfig(s, ""),
		AuditRead:          CanReadAudit(s, own),
		TrafficRead:        CanReadTraffic(s),
	}
	out := make([]string, 0, len(AllPermissions))
	for _, p := range AllPermissions {
		if granted[p] {
			out = append(out, p)
		}
	}
	return out
}
