package rbac_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/registry"
	registryhttp "github.com/plugboard/plugboard/registry/httpapi"
)

func TestPermissions(t *testing.T) {
	token := rbac.Credential{}
	key := func(scopes ...string) rbac.Credential { return rbac.Credential{APIKey: true, Scopes: scopes} }
	super := subjects["super"]
	admin := subjects["adminA"]
	user := subjects["userA"]
	// A key without core:admin acts with no role (httpapi.authenticate).
	roleless := func(s rbac.Subject) rbac.Subject { s.Roles = nil; return s }
	const (
		all       = "dashboard:read services:read services:deregister services:enable tenants:read tenants:write users:read users:write keys:read keys:write config:read config:write config:write_global audit:read traffic:read"
		adminPerm = "dashboard:read services:read services:enable tenants:read users:read users:write keys:read keys:write config:read config:write audit:read traffic:read"
		userPerm  = "dashboard:read tenants:read keys:read keys:write config:read"
	)
	for _, tc := range []struct {
		name string
		s    rbac.Subject
		cred rbac.Credential
		want string
	}{
		{"super_admin token", super, token, all},
		{"tenant_admin token", admin, token, adminPerm},
		{"tenant_admin of two roles", subjects["multiB"], token, adminPerm},
		{"user token", user, token, userPerm},
		{"member with no role", subjects["bareA"], token, userPerm},
		{"look-alike roles", subjects["bogus"], token, userPerm},
		{"super_admin key with core:admin", super, key(rbac.AdminScope), "dashboard:read services:enable tenants:read tenants:write users:read users:write keys:read keys:write config:read config:write config:write_global audit:read traffic:read"},
		{"super_admin key with every scope", super, key(rbac.AdminScope, "registry:write"), all},
		{"tenant_admin key with core:admin", admin, key(rbac.AdminScope), "dashboard:read services:enable tenants:read users:read users:write keys:read keys:write config:read config:write audit:read traffic:read"},
		{"user key without core:admin", roleless(user), key("orders:read"), "dashboard:read tenants:read keys:read config:read"},
		{"admin key without core:admin", roleless(admin), key(), "dashboard:read tenants:read keys:read config:read"},
		{"registry:read key", roleless(admin), key("registry:read"), "dashboard:read services:read tenants:read keys:read config:read"},
		{"registry:write key", roleless(user), key("registry:write"), "dashboard:read services:read services:deregister tenants:read keys:read config:read"},
		// A key bound to service names writes only those at the registry:
		// it neither reads the registry nor deregisters any instance.
		{"registry:write:<service> key", roleless(user), key("registry:write:notes"), "dashboard:read tenants:read keys:read config:read"},
		{"tenant-wide key", rbac.Subject{TenantID: tenantA}, key(rbac.AdminScope), "dashboard:read tenants:read config:read"},
		{"scopes of a token are ignored", user, rbac.Credential{Scopes: []string{"registry:write", rbac.AdminScope}}, userPerm},
		{"nobody", subjects["anon"], token, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rbac.Permissions(tc.s, tc.cred)
			if got == nil {
				t.Fatal("Permissions = nil, want a list (JSON [])")
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("Permissions =\n  %s\nwant\n  %s", strings.Join(got, " "), tc.want)
			}
		})
	}
}

// TestPermissionCodes pins the codes the console is built against.
func TestPermissionCodes(t *testing.T) {
	want := strings.Fields("dashboard:read services:read services:deregister services:enable tenants:read tenants:write users:read users:write keys:read keys:write config:read config:write config:write_global audit:read traffic:read")
	if !slices.Equal(rbac.AllPermissions, want) {
		t.Fatalf("AllPermissions = %v, want %v", rbac.AllPermissions, want)
	}
}

// TestRegistryRulesMatch pins the registry's copy of who may read and
// write it, which services:read and services:deregister restate.
func TestRegistryRulesMatch(t *testing.T) {
	if !slices.Equal(registryhttp.ReadRoles, rbac.RegistryReadRoles) {
		t.Errorf("registry ReadRoles = %v, rbac.RegistryReadRoles = %v", registryhttp.ReadRoles, rbac.RegistryReadRoles)
	}
	if registryhttp.ReadScope != rbac.RegistryReadScope || registryhttp.WriteScope != rbac.RegistryWriteScope {
		t.Errorf("registry scopes %q/%q, rbac %q/%q", registryhttp.ReadScope, registryhttp.WriteScope, rbac.RegistryReadScope, rbac.RegistryWriteScope)
	}
	if registry.ServiceScopePrefix != rbac.RegistryWriteScope+":" {
		t.Errorf("registry.ServiceScopePrefix = %q, want %q", registry.ServiceScopePrefix, rbac.RegistryWriteScope+":")
	}
	// services:deregister for access tokens is IsSuperAdmin.
	if registryhttp.DeregisterRole != rbac.SuperAdmin {
		t.Errorf("registry DeregisterRole = %q, want %q", registryhttp.DeregisterRole, rbac.SuperAdmin)
	}
}

// TestKeyRoles pins the one meaning of a key's scopes (issue 15 finding
// 21): core's API and the gateway both give a key its user's roles only
// with core:admin.
func TestKeyRoles(t *testing.T) {
	admin := []string{rbac.TenantAdmin}
	for _, tc := range []struct {
		name   string
		roles  []string
		scopes []string
		want   []string
	}{
		{"no scopes", admin, nil, nil},
		{"other scopes only", admin, []string{"x:read", "registry:write", "core:admin:x"}, nil},
		{"core:admin", admin, []string{"x:read", rbac.AdminScope}, admin},
		{"super_admin without core:admin", []string{rbac.SuperAdmin}, []string{"x:write"}, nil},
		{"tenant key with core:admin", nil, []string{rbac.AdminScope}, nil},
	} {
		if got := rbac.KeyRoles(tc.roles, tc.scopes); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
