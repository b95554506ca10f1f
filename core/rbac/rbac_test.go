package rbac_test

import (
	"strings"
	"testing"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/rbac"
)

const tenantA, tenantB = "t-a", "t-b"

// subjects are the callers of the matrix, by name.
var subjects = map[string]rbac.Subject{
	"super":  {UserID: "u0", TenantID: tenantA, Roles: []string{rbac.SuperAdmin}},
	"adminA": {UserID: "u1", TenantID: tenantA, Roles: []string{rbac.TenantAdmin}},
	"userA":  {UserID: "u2", TenantID: tenantA, Roles: []string{rbac.User}},
	"bareA":  {UserID: "u3", TenantID: tenantA},               // a member with no role
	"keyA":   {TenantID: tenantA, Roles: []string{rbac.User}}, // a tenant-wide API key
	"adminB": {UserID: "u4", TenantID: tenantB, Roles: []string{rbac.TenantAdmin}},
	"userB":  {UserID: "u5", TenantID: tenantB, Roles: []string{rbac.User}},
	"multiB": {UserID: "u6", TenantID: tenantB, Roles: []string{rbac.User, rbac.TenantAdmin}},
	"bogus":  {UserID: "u7", TenantID: tenantA, Roles: []string{"Super_Admin", "admin", ""}}, // look-alikes grant nothing
	"anon":   {},
}

// targets are the tenants acted on: A, B and G (global, tenantID "").
var targets = map[byte]string{'A': tenantA, 'B': tenantB, 'G': ""}

func TestMatrix(t *testing.T) {
	// want maps a subject to the targets on which the action is allowed;
	// subjects not listed are refused everywhere.
	admins := map[string]string{"super": "ABG", "adminA": "A", "adminB": "B", "multiB": "B"}
	for _, tc := range []struct {
		action string
		can    func(rbac.Subject, string) bool
		want   map[string]string
	}{
		{"ManageTenant", rbac.CanManageTenant, admins},
		{"ManageUsers", rbac.CanManageUsers, admins},
		{"ReadAudit", rbac.CanReadAudit, admins},
		{"WriteConfig", rbac.CanWriteConfig, admins},
		{"ReadConfig", rbac.CanReadConfig, map[string]string{
			"super": "ABG", "adminA": "AG", "userA": "AG", "bareA": "AG", "keyA": "AG", "bogus": "AG",
			"adminB": "BG", "userB": "BG", "multiB": "BG",
		}},
		{"CreateTenant", func(s rbac.Subject, _ string) bool { return rbac.CanCreateTenant(s) }, map[string]string{"super": "ABG"}},
		{"IsSuperAdmin", func(s rbac.Subject, _ string) bool { return rbac.IsSuperAdmin(s) }, map[string]string{"super": "ABG"}},
	} {
		for name, s := range subjects {
			for label, tenant := range targets {
				want := strings.IndexByte(tc.want[name], label) >= 0
				t.Run(tc.action+"/"+name+"/"+string(label), func(t *testing.T) {
					if got := tc.can(s, tenant); got != want {
						t.Errorf("%s(%s, %q) = %v, want %v", tc.action, name, tenant, got, want)
					}
				})
			}
		}
	}
}

func TestCrossTenantRefused(t *testing.T) {
	actions := map[string]func(rbac.Subject, string) bool{
		"ManageTenant": rbac.CanManageTenant, "ManageUsers": rbac.CanManageUsers, "ReadAudit": rbac.CanReadAudit,
		"WriteConfig": rbac.CanWriteConfig, "ReadConfig": rbac.CanReadConfig,
	}
	for name, s := range subjects {
		if rbac.IsSuperAdmin(s) || s.TenantID == "" {
			continue
		}
		other := tenantB
		if s.TenantID == tenantB {
			other = tenantA
		}
		for action, can := range actions {
			if can(s, other) {
				t.Errorf("%s may %s of tenant %s", name, action, other)
			}
		}
	}
}

func TestCanAssignRole(t *testing.T) {
	for _, tc := range []struct {
		subject string
		role    string
		want    bool
	}{
		{"super", rbac.SuperAdmin, true},
		{"super", rbac.TenantAdmin, true},
		{"super", rbac.User, true},
		{"adminA", rbac.SuperAdmin, false},
		{"adminA", rbac.TenantAdmin, true},
		{"adminA", rbac.User, true},
		{"multiB", rbac.SuperAdmin, false},
		{"multiB", rbac.User, true},
		{"userA", rbac.User, false},
		{"userA", rbac.TenantAdmin, false},
		{"userA", rbac.SuperAdmin, false},
		{"keyA", rbac.User, false},
		{"anon", rbac.User, false},
		{"bogus", rbac.User, false},
		{"super", "owner", false},
		{"super", "", false},
		{"adminA", "Super_Admin", false},
	} {
		t.Run(tc.subject+"/"+tc.role, func(t *testing.T) {
			if got := rbac.CanAssignRole(subjects[tc.subject], tc.role); got != tc.want {
				t.Errorf("CanAssignRole = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHasAnyRole(t *testing.T) {
	for _, tc := range []struct {
		name    string
		subject string
		roles   []string
		want    bool
	}{
		{"no roles required", "anon", nil, true},
		{"empty list", "userA", []string{}, true},
		{"has the one", "userA", []string{rbac.User}, true},
		{"has one of two", "multiB", []string{"billing", rbac.TenantAdmin}, true},
		{"has none", "userA", []string{rbac.TenantAdmin, "billing"}, false},
		{"super_admin is not implied", "super", []string{"billing"}, false},
		{"anonymous", "anon", []string{rbac.User}, false},
		{"case matters", "userA", []string{"User"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rbac.HasAnyRole(subjects[tc.subject], tc.roles); got != tc.want {
				t.Errorf("HasAnyRole = %v, want %v", got, tc.want)
			}
		})
	}
}

// The role names are core's.
func TestRoleNamesMatchCore(t *testing.T) {
	for got, want := range map[string]core.Role{rbac.SuperAdmin: core.RoleSuperAdmin, rbac.TenantAdmin: core.RoleTenantAdmin, rbac.User: core.RoleUser} {
		if got != string(want) {
			t.Errorf("%q != core %q", got, want)
		}
	}
}
