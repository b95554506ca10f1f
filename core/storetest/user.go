package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
)

func testUsers(t *testing.T, open func(t *testing.T) core.Store) {
	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		u := newUser(tn.ID, "alice")
		u.Role = core.RoleTenantAdmin
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.ID == "" || u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) || u.LastLogin != nil {
			t.Fatalf("CreateUser did not fill the user: %+v", u)
		}
		for _, get := range []struct {
			name string
			fn   func() (*core.User, error)
		}{
			{"GetUser", func() (*core.User, error) { return s.GetUser(ctx, u.ID) }},
			{"GetUserByUsername", func() (*core.User, error) { return s.GetUserByUsername(ctx, tn.ID, "alice") }},
		} {
			got, err := get.fn()
			if err != nil {
				t.Fatalf("%s: %v", get.name, err)
			}
			want := *u
			sameTime(t, get.name+" created_at", got.CreatedAt, u.CreatedAt)
			sameTime(t, get.name+" updated_at", got.UpdatedAt, u.UpdatedAt)
			got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("%s = %+v, want %+v", get.name, *got, want)
			}
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 1 {
			t.Fatalf("CountUsers = %d, %v; want 1", n, err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		mustUser(t, s, tn.ID, "alice")
		tests := []struct {
			name string
			err  error
		}{
			{"GetUser", func() error { _, err := s.GetUser(ctx, "nope"); return err }()},
			{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(ctx, tn.ID, "bob"); return err }()},
			{"GetUserByUsername in an unknown tenant", func() error { _, err := s.GetUserByUsername(ctx, "nope", "alice"); return err }()},
			{"UpdateUser", func() error { _, err := s.UpdateUser(ctx, "nope", core.UserUpdate{IsActive: ptr(false)}); return err }()},
			{"UpdateUser without changes", func() error { _, err := s.UpdateUser(ctx, "nope", core.UserUpdate{}); return err }()},
			{"RecordLogin", s.RecordLogin(ctx, "nope", time.Now())},
			{"DeleteUser", s.DeleteUser(ctx, "nope")},
		}
		for _, tc := range tests {
			if !fault.Is(tc.err, fault.NotFound) {
				t.Errorf("%s of an unknown user = %v, want not_found", tc.name, tc.err)
			}
		}
	})

	// An unknown tenant is not_found rather than invalid: the input is well
	// formed, it refers to something that does not exist.
	t.Run("UnknownTenant", func(t *testing.T) {
		s := open(t)
		err := s.CreateUser(ctx, newUser("nope", "alice"))
		if !fault.Is(err, fault.NotFound) {
			t.Fatalf("CreateUser in an unknown tenant = %v, want not_found", err)
		}
		if n, _ := s.CountUsers(ctx); n != 0 {
			t.Fatalf("%d users after a rejected create", n)
		}
	})

	t.Run("Uniqueness", func(t *testing.T) {
		s := open(t)
		acme, other := mustTenant(t, s, "acme"), mustTenant(t, s, "other")
		alice := mustUser(t, s, acme.ID, "alice")
		tests := []struct {
			name     string
			tenantID string
			username string
			email    string
			wantErr  string // "" for success
			mention  string
		}{
			{"same username in the tenant", acme.ID, "alice", "other@example.com", fault.Conflict, `"alice"`},
			{"same username in another tenant", other.ID, "alice", "alice@example.com", "", ""},
			{"same email in the tenant", acme.ID, "alice2", "alice@example.com", fault.Conflict, "alice@example.com"},
			{"same email in another case", acme.ID, "alice3", "Alice@Example.COM", fault.Conflict, "Alice@Example.COM"},
			{"username differing in case", acme.ID, "ALICE", "", fault.Conflict, `"alice"`},
			{"second user without email", acme.ID, "bob", "", "", ""},
			{"third user without email", acme.ID, "carol", "", "", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				u := newUser(tc.tenantID, tc.username)
				u.Email = tc.email
				err := s.CreateUser(ctx, u)
				if tc.wantErr == "" {
					if err != nil {
						t.Fatalf("CreateUser = %v, want success", err)
					}
					return
				}
				if !fault.Is(err, tc.wantErr) || !strings.Contains(fault.Message(err), tc.mention) {
					t.Fatalf("CreateUser = %v (%q), want %s mentioning %s", err, fault.Message(err), tc.wantErr, tc.mention)
				}
			})
		}
		if n, _ := s.CountUsers(ctx); n != 4 {
			t.Fatalf("CountUsers = %d, want 4", n)
		}
		bob, err := s.GetUserByUsername(ctx, acme.ID, "bob")
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.UpdateUser(ctx, bob.ID, core.UserUpdate{Email: ptr("ALICE@example.com")})
		if !fault.Is(err, fault.Conflict) || !strings.Contains(fault.Message(err), "ALICE@example.com") {
			t.Fatalf("UpdateUser to a taken email = %v, want conflict naming it", err)
		}
		if _, err := s.UpdateUser(ctx, alice.ID, core.UserUpdate{Email: ptr("ALICE@example.com")}); err != nil {
			t.Fatalf("changing the case of one's own email = %v", err)
		}
	})

	t.Run("CaseInsensitiveUsernames", func(t *testing.T) {
		// Issue 11 finding 19: usr-a, USR-A and ｕsr-a used to coexist.
		s := open(t)
		tn := mustTenant(t, s, "acme")
		u := newUser(tn.ID, "USR-A")
		if err := s.CreateUser(ctx, u); err != nil || u.Username != "usr-a" {
			t.Fatalf("CreateUser(USR-A) = %v, username %q; want it stored as usr-a", err, u.Username)
		}
		for _, name := range []string{"usr-a", "Usr-A"} {
			if err := s.CreateUser(ctx, newUser(tn.ID, name)); !fault.Is(err, fault.Conflict) {
				t.Fatalf("CreateUser(%s) beside USR-A = %v, want conflict", name, err)
			}
		}
		if err := s.CreateUser(ctx, newUser(tn.ID, "\uff55sr-a")); !fault.Is(err, fault.Invalid) {
			t.Fatalf("CreateUser(fullwidth) = %v, want invalid", err)
		}
		for _, name := range []string{"usr-a", "USR-A", "uSr-A"} {
			got, err := s.GetUserByUsername(ctx, tn.ID, name)
			if err != nil || got.ID != u.ID || got.Username != "usr-a" {
				t.Fatalf("GetUserByUsername(%s) = %+v, %v", name, got, err)
			}
			list, err := s.ListUsers(ctx, core.UserFilter{TenantID: &tn.ID, Username: &name})
			if err != nil || len(list) != 1 || list[0].ID != u.ID {
				t.Fatalf("ListUsers(username %s) = %v, %v", name, list, err)
			}
		}
		if n, _ := s.CountUsers(ctx); n != 1 {
			t.Fatalf("CountUsers = %d, want 1", n)
		}
	})

	t.Run("BadInputLeavesNothing", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		tests := []struct {
			name   string
			mutate func(*core.User)
			field  string
		}{
			{"no tenant", func(u *core.User) { u.TenantID = "" }, "tenant_id"},
			{"no username", func(u *core.User) { u.Username = "" }, "username"},
			{"padded username", func(u *core.User) { u.Username = "alice " }, "username"},
			{"NUL in username", func(u *core.User) { u.Username = "al\x00ice" }, "username"},
			{"long username", func(u *core.User) { u.Username = strings.Repeat("a", 256) }, "username"},
			{"fullwidth letter in username", func(u *core.User) { u.Username = "\uff55sr-a" }, "username"},
			{"non-ASCII letter in username", func(u *core.User) { u.Username = "\u00e1lice" }, "username"},
			{"Cyrillic look-alike in username", func(u *core.User) { u.Username = "\u0430lice" }, "username"},
			{"space in username", func(u *core.User) { u.Username = "al ice" }, "username"},
			{"no password", func(u *core.User) { u.HashedPassword = "" }, "hashed_password"},
			{"no role", func(u *core.User) { u.Role = "" }, "role"},
			{"unknown role", func(u *core.User) { u.Role = "root" }, "role"},
			{"bad email", func(u *core.User) { u.Email = "not an email" }, "email"},
			{"email with a name", func(u *core.User) { u.Email = "Alice <alice@example.com>" }, "email"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				u := newUser(tn.ID, "alice")
				tc.mutate(u)
				err := s.CreateUser(ctx, u)
				if !fault.Is(err, fault.Invalid) || fault.Fields(err)[tc.field] == "" {
					t.Fatalf("CreateUser = %v (fields %v), want invalid naming %s", err, fault.Fields(err), tc.field)
				}
			})
		}
		if n, _ := s.CountUsers(ctx); n != 0 {
			t.Fatalf("rejected users left %d rows", n)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		tests := []struct {
			name  string
			u     core.UserUpdate
			check func(t *testing.T, got *core.User)
		}{
			{"email", core.UserUpdate{Email: ptr("new@example.com")}, func(t *testing.T, got *core.User) {
				if got.Email != "new@example.com" {
					t.Fatalf("email = %q", got.Email)
				}
			}},
			{"remove email", core.UserUpdate{Email: ptr("")}, func(t *testing.T, got *core.User) {
				if got.Email != "" {
					t.Fatalf("email = %q", got.Email)
				}
			}},
			{"password", core.UserUpdate{HashedPassword: ptr("new-hash")}, func(t *testing.T, got *core.User) {
				if got.HashedPassword != "new-hash" {
					t.Fatalf("hashed_password = %q", got.HashedPassword)
				}
			}},
			{"role", core.UserUpdate{Role: ptr(core.RoleSuperAdmin)}, func(t *testing.T, got *core.User) {
				if got.Role != core.RoleSuperAdmin {
					t.Fatalf("role = %q", got.Role)
				}
			}},
			{"deactivate", core.UserUpdate{IsActive: ptr(false)}, func(t *testing.T, got *core.User) {
				if got.IsActive {
					t.Fatal("still active")
				}
			}},
			{"everything", core.UserUpdate{Email: ptr("x@example.org"), HashedPassword: ptr("h2"), Role: ptr(core.RoleTenantAdmin), IsActive: ptr(false)},
				func(t *testing.T, got *core.User) {
					if got.Email != "x@example.org" || got.HashedPassword != "h2" || got.Role != core.RoleTenantAdmin || got.IsActive {
						t.Fatalf("after update: %+v", got)
					}
				}},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				u := mustUser(t, s, tn.ID, "user"+string(rune('a'+i)))
				tick(t, u.UpdatedAt)
				got, err := s.UpdateUser(ctx, u.ID, tc.u)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, got)
				if got.UpdatedAt.Location() != time.UTC || !got.UpdatedAt.After(u.UpdatedAt) || !got.CreatedAt.Equal(u.CreatedAt) {
					t.Fatalf("timestamps after update: created %v updated %v; before: %v", got.CreatedAt, got.UpdatedAt, u.UpdatedAt)
				}
				again, err := s.GetUser(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, again)
				if again.Username != u.Username || again.TenantID != u.TenantID {
					t.Fatalf("identity changed: %+v", again)
				}
			})
		}
		t.Run("invalid", func(t *testing.T) {
			u := mustUser(t, s, tn.ID, "invalid")
			bad := []struct {
				u     core.UserUpdate
				field string
			}{
				{core.UserUpdate{Role: ptr(core.Role("root")), IsActive: ptr(false)}, "role"},
				{core.UserUpdate{Email: ptr("nope"), IsActive: ptr(false)}, "email"},
				{core.UserUpdate{HashedPassword: ptr(""), IsActive: ptr(false)}, "hashed_password"},
			}
			for _, tc := range bad {
				_, err := s.UpdateUser(ctx, u.ID, tc.u)
				if !fault.Is(err, fault.Invalid) || fault.Fields(err)[tc.field] == "" {
					t.Errorf("UpdateUser(%s) = %v (fields %v), want invalid naming it", tc.field, err, fault.Fields(err))
				}
			}
			if got, _ := s.GetUser(ctx, u.ID); !got.IsActive || !got.UpdatedAt.Equal(u.UpdatedAt) {
				t.Fatalf("rejected updates changed the user: %+v", got)
			}
		})
		t.Run("nothing", func(t *testing.T) {
			u := mustUser(t, s, tn.ID, "unchanged")
			got, err := s.UpdateUser(ctx, u.ID, core.UserUpdate{})
			if err != nil || !got.UpdatedAt.Equal(u.UpdatedAt) {
				t.Fatalf("empty update = %+v, %v", got, err)
			}
		})
	})

	t.Run("RecordLogin", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		u := mustUser(t, s, tn.ID, "alice")
		at := time.Date(2026, 3, 1, 10, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
		if err := s.RecordLogin(ctx, u.ID, at); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameOptTime(t, "last_login", got.LastLogin, &at)
		if !got.UpdatedAt.Equal(u.UpdatedAt) {
			t.Fatalf("a login changed updated_at: %v → %v", u.UpdatedAt, got.UpdatedAt)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := open(t)
		acme, other := mustTenant(t, s, "acme"), mustTenant(t, s, "other")
		carol := mustUser(t, s, acme.ID, "carol")
		alice := mustUser(t, s, acme.ID, "alice")
		bob := mustUser(t, s, acme.ID, "bob")
		admin := newUser(acme.ID, "dave")
		admin.Role = core.RoleTenantAdmin
		if err := s.CreateUser(ctx, admin); err != nil {
			t.Fatal(err)
		}
		otherAlice := mustUser(t, s, other.ID, "alice")
		tests := []struct {
			name string
			f    core.UserFilter
			want []string
		}{
			{"all", core.UserFilter{}, []string{alice.ID, otherAlice.ID, bob.ID, carol.ID, admin.ID}},
			{"tenant", core.UserFilter{TenantID: &acme.ID}, []string{alice.ID, bob.ID, carol.ID, admin.ID}},
			{"other tenant", core.UserFilter{TenantID: &other.ID}, []string{otherAlice.ID}},
			{"unknown tenant", core.UserFilter{TenantID: ptr("nope")}, nil},
			{"username", core.UserFilter{Username: ptr("alice")}, []string{alice.ID, otherAlice.ID}},
			{"username in tenant", core.UserFilter{TenantID: &other.ID, Username: ptr("alice")}, []string{otherAlice.ID}},
			{"email any case", core.UserFilter{TenantID: &acme.ID, Email: ptr("BOB@example.com")}, []string{bob.ID}},
			{"role", core.UserFilter{Role: ptr(core.RoleTenantAdmin)}, []string{admin.ID}},
			{"limit", core.UserFilter{TenantID: &acme.ID, Limit: 2}, []string{alice.ID, bob.ID}},
			{"offset", core.UserFilter{TenantID: &acme.ID, Offset: 2}, []string{carol.ID, admin.ID}},
			{"page", core.UserFilter{TenantID: &acme.ID, Offset: 1, Limit: 2}, []string{bob.ID, carol.ID}},
			{"past the end", core.UserFilter{Offset: 10}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListUsers(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil {
					t.Fatal("ListUsers returned nil, want an empty list")
				}
				if ids := userIDs(got); !reflect.DeepEqual(ids, tc.want) {
					t.Fatalf("ListUsers(%+v) = %v, want %v", tc.f, ids, tc.want)
				}
			})
		}
		for _, f := range []core.UserFilter{{Offset: -1}, {Limit: -1}} {
			if _, err := s.ListUsers(ctx, f); !fault.Is(err, fault.Invalid) {
				t.Errorf("ListUsers(%+v) = %v, want invalid", f, err)
			}
		}
	})

	t.Run("DeleteRevokesKeys", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		alice, bob := mustUser(t, s, tn.ID, "alice"), mustUser(t, s, tn.ID, "bob")
		aliceKey := newKey(tn.ID, "alice-ci")
		aliceKey.UserID = alice.ID
		mustKey(t, s, aliceKey)
		bobKey := newKey(tn.ID, "bob-ci")
		bobKey.UserID = bob.ID
		mustKey(t, s, bobKey)
		tenantKey := mustKey(t, s, newKey(tn.ID, "tenant-ci"))

		if err := s.DeleteUser(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUser(ctx, alice.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("GetUser after delete = %v", err)
		}
		if err := s.DeleteUser(ctx, alice.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("second DeleteUser = %v", err)
		}
		got, err := s.GetAPIKey(ctx, aliceKey.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt == nil || got.Usable(time.Now()) {
			t.Fatalf("the deleted user's key is still usable: %+v", got)
		}
		for _, k := range []*core.APIKey{bobKey, tenantKey} {
			if got, err := s.GetAPIKey(ctx, k.ID); err != nil || got.RevokedAt != nil || got.UserID != k.UserID {
				t.Fatalf("another key was touched: %+v, %v", got, err)
			}
		}
		if n, _ := s.CountUsers(ctx); n != 1 {
			t.Fatalf("CountUsers = %d, want 1", n)
		}
	})
}
