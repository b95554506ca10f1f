// Package storetest is the contract suite every core.Store must pass. Each
// implementation's test calls Run with a constructor of fresh stores.
//
// The suite asserts only on the core API and fault codes, so it holds for any
// engine: tenants, users and API keys (tenant.go, user.go, apikey.go), tenant
// isolation, and concurrent writers (concurrency.go); signing keys, refresh
// tokens and the audit log (session.go); the change feed (changes.go).
package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/internal/testenv"
)

// Run exercises the stores open returns; open is called once per subtest and
// must return an empty store, independent of the others: the subtests run
// in parallel.
func Run(t *testing.T, open func(t *testing.T) core.Store) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, func(*testing.T) core.Store)
	}{
		{"Tenants", testTenants},
		{"SetTenantService", testSetTenantService},
		{"Users", testUsers},
		{"APIKeys", testAPIKeys},
		{"TenantIsolation", testIsolation},
		{"Concurrency", testConcurrency},
		{"SigningKeys", testSigningKeys},
		{"RefreshTokens", testRefreshTokens},
		{"Audit", testAudit},
		{"AuditFilter", testAuditFilter},
		{"Config", testConfig},
		{"Changes", testChanges},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each opens stores of its own
			tc.test(t, open)
		})
	}
}

var ctx = context.Background()

// tick waits until the clock, at the stores' precision (microseconds), has
// passed after, so that the next write is stamped later.
func tick(t *testing.T, after time.Time) {
	t.Helper()
	testenv.Eventually(t, time.Second, func() bool { return storage.Now().After(after) }, "the clock does not move")
}

func newTenant(name string) *core.Tenant {
	return &core.Tenant{
		Name: name, DisplayName: "The " + name, IsActive: true,
		Config:          json.RawMessage(`{"theme":"dark"}`),
		EnabledServices: []string{"orders"},
	}
}

func newUser(tenantID, username string) *core.User {
	return &core.User{
		TenantID: tenantID, Username: username, Email: username + "@example.com",
		HashedPassword: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", Role: core.RoleUser, IsActive: true,
	}
}

func newKey(tenantID, name string) *core.APIKey {
	return &core.APIKey{
		TenantID: tenantID, Name: name, Prefix: "pb_" + tenantID[len(tenantID)-8:] + "_" + name,
		KeyHash: "sha256:" + tenantID + ":" + name, Scopes: []string{"read"},
	}
}

func mustTenant(t *testing.T, s core.Store, name string) *core.Tenant {
	t.Helper()
	tn := newTenant(name)
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatalf("CreateTenant(%s): %v", name, err)
	}
	return tn
}

func mustUser(t *testing.T, s core.Store, tenantID, username string) *core.User {
	t.Helper()
	u := newUser(tenantID, username)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser(%s): %v", username, err)
	}
	return u
}

func mustKey(t *testing.T, s core.Store, k *core.APIKey) *core.APIKey {
	t.Helper()
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey(%s): %v", k.Name, err)
	}
	return k
}

// sameTime fails unless got is want, at microsecond precision, in UTC.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC || !got.Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("%s = %v, want %v in UTC", what, got, want)
	}
}

// sameOptTime is sameTime for optional times.
func sameOptTime(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Fatalf("%s = %v, want %v", what, got, want)
	default:
		sameTime(t, what, *got, *want)
	}
}

func ids[T any](list []*T, id func(*T) string) []string {
	var out []string
	for _, v := range list {
		out = append(out, id(v))
	}
	return out
}

func tenantIDs(list []*core.Tenant) []string {
	return ids(list, func(t *core.Tenant) string { return t.ID })
}
func userIDs(list []*core.User) []string { return ids(list, func(u *core.User) string { return u.ID }) }
func keyIDs(list []*core.APIKey) []string {
	return ids(list, func(k *core.APIKey) string { return k.ID })
}

func ptr[T any](v T) *T { return &v }
