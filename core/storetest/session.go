package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
)

func testSigningKeys(t *testing.T, open func(t *testing.T) core.Store) {
	s := open(t)
	now := time.Now().UTC().Truncate(time.Second)
	keys := []*core.SigningKey{
		{ID: "old", Algorithm: "EdDSA", PrivateKey: "p1", PublicKey: "k1", CreatedAt: now.Add(-48 * time.Hour), SignUntil: now.Add(-24 * time.Hour), RetireAt: now.Add(-time.Hour)},
		{ID: "prev", Algorithm: "EdDSA", PrivateKey: "p2", PublicKey: "k2", CreatedAt: now.Add(-24 * time.Hour), SignUntil: now.Add(-time.Minute), RetireAt: now.Add(time.Hour)},
		{ID: "cur", Algorithm: "EdDSA", PrivateKey: "p3", PublicKey: "k3", CreatedAt: now, SignUntil: now.Add(24 * time.Hour), RetireAt: now.Add(25 * time.Hour)},
	}
	for _, k := range keys {
		if err := s.CreateSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSigningKey(ctx, keys[2]); !fault.Is(err, fault.Conflict) {
		t.Fatalf("duplicate key id: %v, want conflict", err)
	}
	got, err := s.ListSigningKeys(ctx, now)
	if err != nil || len(got) != 2 || got[0].ID != "cur" || got[1].ID != "prev" || got[0].PrivateKey != "p3" || !got[0].SignUntil.Equal(keys[2].SignUntil) {
		t.Fatalf("ListSigningKeys = %+v, %v; want cur, prev (old is retired)", got, err)
	}
	if all, err := s.ListSigningKeys(ctx, time.Time{}); err != nil || len(all) != 3 {
		t.Fatalf("ListSigningKeys(zero) = %d keys, %v; want all 3", len(all), err)
	}
	if err := s.ReplaceSigningKeyPrivate(ctx, "old", "p1", "sealed-p1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceSigningKeyPrivate(ctx, "old", "p1", "other"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("replacing a stale private key: %v, want not_found", err)
	}
	if err := s.ReplaceSigningKeyPrivate(ctx, "nope", "p1", "other"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("replacing a missing key: %v, want not_found", err)
	}
	if all, _ := s.ListSigningKeys(ctx, time.Time{}); all[2].ID != "old" || all[2].PrivateKey != "sealed-p1" {
		t.Fatalf("after replace: %+v", all[2])
	}
}

func testRefreshTokens(t *testing.T, open func(t *testing.T) core.Store) {
	s := open(t)
	tn := mustTenant(t, s, "acme")
	u := mustUser(t, s, tn.ID, "alice")
	now := time.Now().UTC()
	mk := func(family, hash string) *core.RefreshToken {
		rt := &core.RefreshToken{FamilyID: family, UserID: u.ID, TokenHash: hash, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
		return rt
	}
	mk("f1", "h1")
	mk("f1", "h2")
	mk("f2", "h3")
	if err := s.CreateRefreshToken(ctx, &core.RefreshToken{FamilyID: "f", UserID: "nobody", TokenHash: "hx", CreatedAt: now, ExpiresAt: now}); !fault.Is(err, fault.NotFound) {
		t.Fatalf("token of an unknown user: %v", err)
	}
	first, err := s.UseRefreshToken(ctx, "h1", now)
	if err != nil || first.UsedAt != nil || first.FamilyID != "f1" || first.UserID != u.ID {
		t.Fatalf("first use = %+v, %v", first, err)
	}
	again, err := s.UseRefreshToken(ctx, "h1", now.Add(time.Second))
	if err != nil || again.UsedAt == nil {
		t.Fatalf("second use = %+v, %v; want UsedAt set (a replay)", again, err)
	}
	if _, err := s.UseRefreshToken(ctx, "nope", now); !fault.Is(err, fault.NotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	if err := s.RevokeFamily(ctx, "f1", now); err != nil {
		t.Fatal(err)
	}
	if rt, _ := s.UseRefreshToken(ctx, "h2", now); rt.RevokedAt == nil {
		t.Fatal("RevokeFamily left a token of the family usable")
	}
	if rt, _ := s.UseRefreshToken(ctx, "h3", now); rt.RevokedAt != nil {
		t.Fatal("RevokeFamily revoked another family")
	}
	for family, want := range map[string]bool{"f1": true, "f2": false, "unknown": false} {
		if got, err := s.SessionRevoked(ctx, family); err != nil || got != want {
			t.Fatalf("SessionRevoked(%s) = %v, %v; want %v", family, got, err, want)
		}
	}
	mk("f3", "h4")
	if err := s.RevokeUserSessions(ctx, u.ID, now); err != nil {
		t.Fatal(err)
	}
	if rt, _ := s.UseRefreshToken(ctx, "h4", now); rt.RevokedAt == nil {
		t.Fatal("RevokeUserSessions left a session usable")
	}
	if revoked, err := s.SessionRevoked(ctx, "f3"); err != nil || !revoked {
		t.Fatalf("SessionRevoked(f3) after RevokeUserSessions = %v, %v", revoked, err)
	}

	// Two refreshes racing on one token: exactly one sees it unused.
	mk("f4", "race")
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt, err := s.UseRefreshToken(ctx, "race", time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			if rt.UsedAt == nil {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d concurrent refreshes saw the token unused, want 1", fresh)
	}
}

func testAudit(t *testing.T, open func(t *testing.T) core.Store) {
	s := open(t)
	for i := range 5 {
		tenant := "t1"
		if i%2 == 1 {
			tenant = "t2"
		}
		e := &core.AuditEntry{TenantID: tenant, ActorID: "u", ActorName: "alice", Action: "user.create", ObjectType: "user",
			ObjectID: fmt.Sprint(i), Details: json.RawMessage(`{"n":` + fmt.Sprint(i) + `}`), RemoteAddr: "127.0.0.1"}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.ID == "" || e.CreatedAt.IsZero() {
			t.Fatalf("AppendAudit did not fill %+v", e)
		}
		tick(t, e.CreatedAt) // entries are ordered by time
	}
	t1 := "t1"
	got, err := s.ListAudit(ctx, core.AuditFilter{TenantID: &t1})
	if err != nil || len(got) != 3 || got[0].ObjectID != "4" || got[2].ObjectID != "0" {
		t.Fatalf("t1's entries = %d, %v (want 3, newest first)", len(got), err)
	}
	all, _ := s.ListAudit(ctx, core.AuditFilter{Limit: 2})
	if len(all) != 2 || all[0].ObjectID != "4" {
		t.Fatalf("limit 2: %+v", all)
	}
	older, _ := s.ListAudit(ctx, core.AuditFilter{Before: &all[1].CreatedAt})
	if len(older) != 3 || older[0].ObjectID != "2" {
		t.Fatalf("page 2: %d entries", len(older))
	}
	var d map[string]int
	if json.Unmarshal(got[0].Details, &d) != nil || d["n"] != 4 {
		t.Fatalf("details %s", got[0].Details)
	}
}

func testAuditFilter(t *testing.T, open func(t *testing.T) core.Store) {
	s := open(t)
	var at []time.Time
	for i, e := range []core.AuditEntry{
		{ActorID: "u1", ActorName: "alice", Action: "user.create", ObjectType: "user", ObjectID: "u9"},
		{ActorID: "u2", ActorName: "bob", Action: "user.update", ObjectType: "user", ObjectID: "u9"},
		{ActorID: "u1", ActorName: "alice", Action: "tenant.update", ObjectType: "tenant", ObjectID: "t1"},
		{ActorID: "u2", ActorName: "bob", Action: "users.x", ObjectType: "config", ObjectID: "svc/user_x"},
		{ActorID: "alice", ActorName: "carol", Action: "user.delete", ObjectType: "user", ObjectID: "u9"},
	} {
		e.TenantID = "t1"
		if i == 2 {
			e.TenantID = "t2"
		}
		if err := s.AppendAudit(ctx, &e); err != nil {
			t.Fatal(err)
		}
		at = append(at, e.CreatedAt)
		tick(t, e.CreatedAt)
	}
	str := func(v string) *string { return &v }
	t1 := "t1"
	for _, tc := range []struct {
		name string
		f    core.AuditFilter
		want string // the entries' indexes, newest first
	}{
		{"actor by name or id", core.AuditFilter{Actor: str("alice")}, "420"},
		{"actor by id", core.AuditFilter{Actor: str("u2")}, "31"},
		{"actor is exact", core.AuditFilter{Actor: str("ali")}, ""},
		{"action", core.AuditFilter{Action: str("user.update")}, "1"},
		{"action prefix", core.AuditFilter{Action: str("user.*")}, "410"},
		{"prefix has no wildcards", core.AuditFilter{Action: str("us_r.*")}, ""},
		{"object type", core.AuditFilter{ObjectType: str("user")}, "410"},
		{"object", core.AuditFilter{ObjectType: str("config"), ObjectID: str("svc/user_x")}, "3"},
		{"object id", core.AuditFilter{ObjectID: str("u9")}, "410"},
		{"from is inclusive", core.AuditFilter{From: &at[3]}, "43"},
		{"to is exclusive", core.AuditFilter{To: &at[1]}, "0"},
		{"from to", core.AuditFilter{From: &at[1], To: &at[4]}, "321"},
		{"combined with tenant and paging", core.AuditFilter{TenantID: &t1, Actor: str("u1"), Action: str("user.*"), Before: &at[4], From: &at[0]}, "0"},
		{"combined with limit", core.AuditFilter{ObjectID: str("u9"), Limit: 2}, "41"},
	} {
		got, err := s.ListAudit(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var idx strings.Builder
		for _, e := range got {
			for i, c := range at {
				if e.CreatedAt.Equal(c) {
					fmt.Fprint(&idx, i)
				}
			}
		}
		if idx.String() != tc.want {
			t.Errorf("%s: entries %q, want %q", tc.name, idx.String(), tc.want)
		}
	}
}
