package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
)

func testAPIKeys(t *testing.T, open func(t *testing.T) core.Store) {
	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		u := mustUser(t, s, tn.ID, "alice")
		expires := time.Date(2030, 1, 2, 3, 4, 5, 678901234, time.FixedZone("EST", -5*3600))
		k := newKey(tn.ID, "ci")
		k.UserID, k.ExpiresAt, k.Scopes = u.ID, &expires, []string{"read", "write"}
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if k.ID == "" || k.CreatedAt.IsZero() || k.RevokedAt != nil || k.LastUsed != nil {
			t.Fatalf("CreateAPIKey did not fill the key: %+v", k)
		}
		tenantWide := newKey(tn.ID, "deploy")
		tenantWide.Scopes = nil
		mustKey(t, s, tenantWide)

		for _, get := range []struct {
			name string
			fn   func() (*core.APIKey, error)
		}{
			{"GetAPIKey", func() (*core.APIKey, error) { return s.GetAPIKey(ctx, k.ID) }},
			{"GetAPIKeyByHash", func() (*core.APIKey, error) { return s.GetAPIKeyByHash(ctx, k.KeyHash) }},
		} {
			got, err := get.fn()
			if err != nil {
				t.Fatalf("%s: %v", get.name, err)
			}
			if got.ID != k.ID || got.TenantID != tn.ID || got.UserID != u.ID || got.Name != "ci" ||
				got.Prefix != k.Prefix || got.KeyHash != k.KeyHash || !reflect.DeepEqual(got.Scopes, []string{"read", "write"}) {
				t.Fatalf("%s = %+v", get.name, got)
			}
			sameOptTime(t, get.name+" expires_at", got.ExpiresAt, &expires)
			sameTime(t, get.name+" created_at", got.CreatedAt, k.CreatedAt)
			if got.LastUsed != nil || got.RevokedAt != nil {
				t.Fatalf("%s: last_used %v, revoked_at %v; want none", get.name, got.LastUsed, got.RevokedAt)
			}
			if !got.Usable(expires.Add(-time.Second)) || got.Usable(expires) {
				t.Fatalf("%s: Usable does not follow expires_at", get.name)
			}
		}
		got, err := s.GetAPIKey(ctx, tenantWide.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != "" || got.ExpiresAt != nil || got.Scopes == nil || len(got.Scopes) != 0 || !got.Usable(time.Now()) {
			t.Fatalf("tenant-wide key = %+v", got)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		mustKey(t, s, newKey(tn.ID, "ci"))
		tests := []struct {
			name string
			err  error
		}{
			{"GetAPIKey", func() error { _, err := s.GetAPIKey(ctx, "nope"); return err }()},
			{"GetAPIKeyByHash", func() error { _, err := s.GetAPIKeyByHash(ctx, "sha256:nope"); return err }()},
			{"RevokeAPIKey", s.RevokeAPIKey(ctx, "nope", time.Now())},
			{"CreateAPIKey in an unknown tenant", s.CreateAPIKey(ctx, newKey("00000000-nope", "ci"))},
			{"CreateAPIKey for an unknown user", func() error {
				k := newKey(tn.ID, "orphan")
				k.UserID = "nope"
				return s.CreateAPIKey(ctx, k)
			}()},
		}
		for _, tc := range tests {
			if !fault.Is(tc.err, fault.NotFound) {
				t.Errorf("%s = %v, want not_found", tc.name, tc.err)
			}
		}
		if _, err := s.GetAPIKeyByHash(ctx, "sha256:nope"); strings.Contains(fault.Message(err), "sha256:nope") {
			t.Errorf("not_found message echoes the hash: %q", fault.Message(err))
		}
		if keys, _ := s.ListAPIKeys(ctx, tn.ID); len(keys) != 1 {
			t.Fatalf("%d keys after rejected creates, want 1", len(keys))
		}
	})

	t.Run("Uniqueness", func(t *testing.T) {
		s := open(t)
		acme, other := mustTenant(t, s, "acme"), mustTenant(t, s, "other")
		first := mustKey(t, s, newKey(acme.ID, "ci"))
		tests := []struct {
			name    string
			key     func() *core.APIKey
			wantErr string
		}{
			{"same name in the tenant", func() *core.APIKey {
				k := newKey(acme.ID, "ci")
				k.Prefix, k.KeyHash = "pb_fresh", "sha256:fresh"
				return k
			}, fault.Conflict},
			{"same name in another tenant", func() *core.APIKey { return newKey(other.ID, "ci") }, ""},
			{"same prefix", func() *core.APIKey {
				k := newKey(other.ID, "deploy")
				k.Prefix = first.Prefix
				return k
			}, fault.Conflict},
			{"same hash", func() *core.APIKey {
				k := newKey(other.ID, "deploy")
				k.KeyHash = first.KeyHash
				return k
			}, fault.Conflict},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := s.CreateAPIKey(ctx, tc.key())
				if tc.wantErr == "" {
					if err != nil {
						t.Fatalf("CreateAPIKey = %v, want success", err)
					}
					return
				}
				if !fault.Is(err, tc.wantErr) {
					t.Fatalf("CreateAPIKey = %v, want %s", err, tc.wantErr)
				}
				if strings.Contains(fault.Message(err), first.KeyHash) {
					t.Fatalf("conflict message echoes the hash: %q", fault.Message(err))
				}
			})
		}
	})

	t.Run("BadInputLeavesNothing", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		tests := []struct {
			name   string
			mutate func(*core.APIKey)
			field  string
		}{
			{"no tenant", func(k *core.APIKey) { k.TenantID = "" }, "tenant_id"},
			{"no name", func(k *core.APIKey) { k.Name = "" }, "name"},
			{"no prefix", func(k *core.APIKey) { k.Prefix = "" }, "prefix"},
			{"no hash", func(k *core.APIKey) { k.KeyHash = "" }, "key_hash"},
			{"empty scope", func(k *core.APIKey) { k.Scopes = []string{""} }, "scopes[0]"},
			{"scope listed twice", func(k *core.APIKey) { k.Scopes = []string{"read", "read"} }, "scopes[1]"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				k := newKey(tn.ID, "ci")
				tc.mutate(k)
				err := s.CreateAPIKey(ctx, k)
				if !fault.Is(err, fault.Invalid) || fault.Fields(err)[tc.field] == "" {
					t.Fatalf("CreateAPIKey = %v (fields %v), want invalid naming %s", err, fault.Fields(err), tc.field)
				}
			})
		}
		if keys, _ := s.ListAPIKeys(ctx, tn.ID); len(keys) != 0 {
			t.Fatalf("rejected keys left %d rows", len(keys))
		}
	})

	t.Run("List", func(t *testing.T) {
		s := open(t)
		acme, other := mustTenant(t, s, "acme"), mustTenant(t, s, "other")
		if keys, err := s.ListAPIKeys(ctx, acme.ID); err != nil || keys == nil || len(keys) != 0 {
			t.Fatalf("ListAPIKeys without keys = %v, %v; want an empty list", keys, err)
		}
		b := mustKey(t, s, newKey(acme.ID, "bravo"))
		a := mustKey(t, s, newKey(acme.ID, "alpha"))
		o := mustKey(t, s, newKey(other.ID, "alpha"))
		if err := s.RevokeAPIKey(ctx, b.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			tenantID string
			want     []string
		}{
			{acme.ID, []string{a.ID, b.ID}},
			{other.ID, []string{o.ID}},
			{"nope", nil},
		}
		for _, tc := range tests {
			got, err := s.ListAPIKeys(ctx, tc.tenantID)
			if err != nil {
				t.Fatal(err)
			}
			if ids := keyIDs(got); !reflect.DeepEqual(ids, tc.want) {
				t.Fatalf("ListAPIKeys(%s) = %v, want %v (revoked included, by name)", tc.tenantID, ids, tc.want)
			}
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		k := mustKey(t, s, newKey(tn.ID, "ci"))
		first := time.Date(2026, 5, 1, 12, 0, 0, 999, time.FixedZone("CEST", 2*3600))
		if err := s.RevokeAPIKey(ctx, k.ID, first); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAPIKey(ctx, k.ID, first.Add(time.Hour)); err != nil {
			t.Fatalf("second RevokeAPIKey = %v", err)
		}
		got, err := s.GetAPIKeyByHash(ctx, k.KeyHash)
		if err != nil {
			t.Fatal(err)
		}
		sameOptTime(t, "revoked_at", got.RevokedAt, &first)
		if got.Usable(first.Add(-time.Hour)) {
			t.Fatal("a revoked key is usable")
		}
	})

	t.Run("TouchAPIKeys", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		a, b, c := mustKey(t, s, newKey(tn.ID, "a")), mustKey(t, s, newKey(tn.ID, "b")), mustKey(t, s, newKey(tn.ID, "c"))
		if err := s.TouchAPIKeys(ctx, nil); err != nil {
			t.Fatalf("TouchAPIKeys(nil) = %v", err)
		}
		t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.FixedZone("JST", 9*3600))
		if err := s.TouchAPIKeys(ctx, map[string]time.Time{a.ID: t0, b.ID: t0.Add(time.Minute), "gone": t0}); err != nil {
			t.Fatalf("TouchAPIKeys = %v", err)
		}
		// A late flush of an older time must not move last_used back.
		if err := s.TouchAPIKeys(ctx, map[string]time.Time{a.ID: t0.Add(time.Hour), b.ID: t0}); err != nil {
			t.Fatalf("TouchAPIKeys = %v", err)
		}
		want := map[string]*time.Time{a.ID: ptr(t0.Add(time.Hour)), b.ID: ptr(t0.Add(time.Minute)), c.ID: nil}
		for id, w := range want {
			got, err := s.GetAPIKey(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			sameOptTime(t, "last_used of "+got.Name, got.LastUsed, w)
		}
	})
}

func testIsolation(t *testing.T, open func(t *testing.T) core.Store) {
	s := open(t)
	a, b := mustTenant(t, s, "tenant-a"), mustTenant(t, s, "tenant-b")
	aliceA := mustUser(t, s, a.ID, "alice")
	bobB := mustUser(t, s, b.ID, "bob")
	keyA := newKey(a.ID, "ci")
	keyA.UserID = aliceA.ID
	mustKey(t, s, keyA)
	keyB := mustKey(t, s, newKey(b.ID, "ci"))

	t.Run("users", func(t *testing.T) {
		for _, tc := range []struct {
			tenant *core.Tenant
			want   []string
		}{{a, []string{aliceA.ID}}, {b, []string{bobB.ID}}} {
			got, err := s.ListUsers(ctx, core.UserFilter{TenantID: &tc.tenant.ID})
			if err != nil || !reflect.DeepEqual(userIDs(got), tc.want) {
				t.Fatalf("ListUsers(%s) = %v, %v; want %v", tc.tenant.Name, userIDs(got), err, tc.want)
			}
		}
		if _, err := s.GetUserByUsername(ctx, b.ID, "alice"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("tenant B found tenant A's alice: %v", err)
		}
	})

	t.Run("keys", func(t *testing.T) {
		for _, tc := range []struct {
			tenant *core.Tenant
			want   []string
		}{{a, []string{keyA.ID}}, {b, []string{keyB.ID}}} {
			got, err := s.ListAPIKeys(ctx, tc.tenant.ID)
			if err != nil || !reflect.DeepEqual(keyIDs(got), tc.want) {
				t.Fatalf("ListAPIKeys(%s) = %v, %v; want %v", tc.tenant.Name, keyIDs(got), err, tc.want)
			}
		}
	})

	t.Run("key for another tenant's user", func(t *testing.T) {
		k := newKey(b.ID, "stolen")
		k.UserID = aliceA.ID
		err := s.CreateAPIKey(ctx, k)
		if !fault.Is(err, fault.NotFound) || fault.Fields(err)["user_id"] == "" {
			t.Fatalf("CreateAPIKey in B for A's user = %v (fields %v), want not_found naming user_id", err, fault.Fields(err))
		}
		if got, _ := s.ListAPIKeys(ctx, b.ID); len(got) != 1 {
			t.Fatalf("tenant B has %d keys, want 1", len(got))
		}
	})
}
