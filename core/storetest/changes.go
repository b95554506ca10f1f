package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
)

// changes reads every change after after, failing t unless complete.
func changes(t *testing.T, s core.Store, after int64) []corefeed.Event {
	t.Helper()
	list, complete, err := s.ChangesAfter(ctx, after, 0)
	if err != nil || !complete {
		t.Fatalf("ChangesAfter(%d) = %v, %v", after, complete, err)
	}
	return list
}

// kinds lists the kinds of list.
func kinds(list []corefeed.Event) []corefeed.Kind {
	out := []corefeed.Kind{}
	for _, ev := range list {
		out = append(out, ev.Kind)
	}
	return out
}

// testChanges: each write a gateway depends on appends its change, in
// commit order with consecutive revisions; refused and no-op writes append
// none; reading resumes, pages, and reports what was pruned.
func testChanges(t *testing.T, open func(t *testing.T) core.Store) {
	s := open(t)
	if rev, err := s.ChangeRevision(ctx); err != nil || rev != 0 {
		t.Fatalf("ChangeRevision of an empty store = %d, %v", rev, err)
	}
	if list, complete, err := s.ChangesAfter(ctx, 0, 0); err != nil || !complete || len(list) != 0 {
		t.Fatalf("ChangesAfter(0) of an empty store = %v, %v, %v", list, complete, err)
	}
	tn := mustTenant(t, s, "acme") // creating appends nothing
	u := mustUser(t, s, tn.ID, "alice")
	k := mustKey(t, s, &core.APIKey{TenantID: tn.ID, UserID: u.ID, Name: "ci", Prefix: "pb_ci", KeyHash: "h-ci"})
	now := time.Now().UTC()
	if err := s.CreateRefreshToken(ctx, &core.RefreshToken{FamilyID: "fam-1", UserID: u.ID, TokenHash: "rt-1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, &core.RefreshToken{FamilyID: "fam-2", UserID: u.ID, TokenHash: "rt-2", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := changes(t, s, -1); len(got) != 0 {
		t.Fatalf("creating appended %+v", got)
	}

	// Refused writes append nothing.
	refused := []error{
		func() error { _, err := s.SetTenantService(ctx, "nope", "billing", true); return err }(),
		func() error {
			_, err := s.UpdateTenant(ctx, "nope", core.TenantUpdate{IsActive: ptr(false)})
			return err
		}(),
		s.DeleteTenant(ctx, tn.ID), // it has users
		func() error { _, err := s.UpdateUser(ctx, "nope", core.UserUpdate{IsActive: ptr(false)}); return err }(),
		s.DeleteUser(ctx, "nope"),
		s.RevokeAPIKey(ctx, "nope", now),
		func() error {
			_, err := s.PutConfig(ctx, &core.ConfigEntry{Service: "gateway", Key: "plugboard.x", Value: json.RawMessage(`1`)}, ptr(3), core.Author{}, "")
			return err
		}(),
		func() error {
			_, err := s.DeleteConfig(ctx, "", "gateway", "plugboard.x", nil, core.Author{})
			return err
		}(),
	}
	for i, err := range refused {
		if err == nil {
			t.Fatalf("refused write %d succeeded", i)
		}
	}
	if got := changes(t, s, -1); len(got) != 0 {
		t.Fatalf("refused writes appended %+v", got)
	}

	// No-op writes append nothing either.
	noop := []error{
		func() error { _, err := s.UpdateTenant(ctx, tn.ID, core.TenantUpdate{IsActive: ptr(true)}); return err }(),
		func() error { _, err := s.SetTenantService(ctx, tn.ID, "orders", true); return err }(),
		func() error { _, err := s.UpdateUser(ctx, u.ID, core.UserUpdate{Role: ptr(core.RoleUser)}); return err }(),
		func() error {
			_, err := s.UpdateUser(ctx, u.ID, core.UserUpdate{Email: ptr("a@example.com")})
			return err
		}(),
		s.RevokeFamily(ctx, "no-such-session", now),
		func() error {
			_, err := s.PutConfig(ctx, &core.ConfigEntry{Service: "gateway", Key: "plain", Value: json.RawMessage(`1`)}, nil, core.Author{}, "")
			return err
		}(),
		func() error {
			_, err := s.PutConfig(ctx, &core.ConfigEntry{Scope: tn.ID, Service: "gateway", Key: "plugboard.x", Value: json.RawMessage(`1`)}, nil, core.Author{}, "")
			return err
		}(),
	}
	for i, err := range noop {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if got := changes(t, s, -1); len(got) != 0 {
		t.Fatalf("writes that change no decision appended %+v", got)
	}

	// Each write that changes a decision appends its change.
	start := time.Now().UTC().Add(-time.Second)
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.SetTenantService(ctx, tn.ID, "billing", true)
	mustDo(err)
	_, err = s.UpdateTenant(ctx, tn.ID, core.TenantUpdate{DisplayName: ptr("Acme Inc")})
	mustDo(err)
	_, err = s.UpdateTenant(ctx, tn.ID, core.TenantUpdate{IsActive: ptr(false), EnabledServices: &[]string{"orders"}})
	mustDo(err)
	_, err = s.UpdateUser(ctx, u.ID, core.UserUpdate{Role: ptr(core.RoleTenantAdmin)})
	mustDo(err)
	mustDo(s.RevokeFamily(ctx, "fam-1", now))
	mustDo(s.RevokeFamily(ctx, "fam-1", now)) // ended already
	mustDo(s.RevokeUserSessions(ctx, u.ID, now))
	mustDo(s.RevokeUserSessions(ctx, u.ID, now)) // none left
	mustDo(s.RevokeAPIKey(ctx, k.ID, now))
	mustDo(s.RevokeAPIKey(ctx, k.ID, now)) // revoked already
	mustDo(s.CreateSigningKey(ctx, &core.SigningKey{ID: "k1", Algorithm: "EdDSA", PrivateKey: "p", PublicKey: "q",
		CreatedAt: now, SignUntil: now.Add(time.Hour), RetireAt: now.Add(2 * time.Hour)}))
	_, err = s.PutConfig(ctx, &core.ConfigEntry{Service: "gateway", Key: "plugboard.x", Value: json.RawMessage(`{"b": 1, "a": [2]}`)}, nil, core.Author{}, "")
	mustDo(err)
	_, err = s.DeleteConfig(ctx, "", "gateway", "plugboard.x", nil, core.Author{})
	mustDo(err)
	mustDo(s.DeleteUser(ctx, u.ID))
	mustDo(s.DeleteTenant(ctx, tn.ID))

	got := changes(t, s, 0)
	want := []corefeed.Kind{corefeed.TenantServices, corefeed.TenantChanged, corefeed.TenantServices, corefeed.TenantRevoked,
		corefeed.UserRevoked, corefeed.SessionRevoked, corefeed.UserRevoked, corefeed.APIKeyRevoked, corefeed.SigningKeys,
		corefeed.Config, corefeed.Config, corefeed.UserRevoked, corefeed.TenantRevoked}
	if !slices.Equal(kinds(got), want) {
		t.Fatalf("kinds %v, want %v", kinds(got), want)
	}
	for i, ev := range got {
		if ev.Revision != int64(i+1) || ev.At.Before(start) || ev.At.Location() != time.UTC || (i > 0 && ev.At.Before(got[i-1].At)) {
			t.Fatalf("change %d: revision %d at %v", i, ev.Revision, ev.At)
		}
	}
	check := func(i int, ok bool) {
		t.Helper()
		if !ok {
			t.Fatalf("change %d: %+v", i, got[i])
		}
	}
	check(0, got[0].TenantID == tn.ID && slices.Equal(got[0].Services, []string{"orders", "billing"}))
	check(2, slices.Equal(got[2].Services, []string{"orders"}))
	check(3, got[3].TenantID == tn.ID)
	check(4, got[4].UserID == u.ID && got[4].TenantID == tn.ID)
	check(5, got[5].SessionID == "fam-1" && got[5].UserID == u.ID && got[5].TenantID == tn.ID)
	check(6, got[6].UserID == u.ID && got[6].SessionID == "")
	check(7, got[7].KeyID == k.ID && got[7].UserID == u.ID && got[7].TenantID == tn.ID)
	check(9, got[9].Service == "gateway" && got[9].Key == "plugboard.x" && got[9].Version == 1 && !got[9].Deleted &&
		string(got[9].Value) == `{"b": 1, "a": [2]}`)
	check(10, got[10].Version == 2 && got[10].Deleted && got[10].Value == nil)
	check(11, got[11].UserID == u.ID)
	check(12, got[12].TenantID == tn.ID)
	if rev, err := s.ChangeRevision(ctx); err != nil || rev != 13 {
		t.Fatalf("ChangeRevision = %d, %v", rev, err)
	}

	// Reading: resume, page, the end.
	if page, complete, err := s.ChangesAfter(ctx, 5, 3); err != nil || !complete || len(page) != 3 || page[0].Revision != 6 {
		t.Fatalf("ChangesAfter(5, 3) = %d changes from %v, %v, %v", len(page), page, complete, err)
	}
	if list := changes(t, s, 13); len(list) != 0 {
		t.Fatalf("after the latest: %+v", list)
	}

	// Pruning deletes from the oldest up; what was pruned is reported.
	if n, err := s.PruneChanges(ctx, start); err != nil || n != 0 {
		t.Fatalf("PruneChanges before the first = %d, %v", n, err)
	}
	cut := got[6].At.Add(time.Microsecond)
	tick(t, got[12].At)
	if n, err := s.PruneChanges(ctx, cut); err != nil || n < 7 {
		t.Fatalf("PruneChanges = %d, %v; want at least 7", n, err)
	}
	kept := changes(t, s, -1)
	if len(kept) == 0 || kept[len(kept)-1].Revision != 13 || kept[0].Revision != 14-int64(len(kept)) {
		t.Fatalf("kept %v, want the latest ones without a gap", kinds(kept))
	}
	oldest := kept[0].Revision
	if _, complete, err := s.ChangesAfter(ctx, oldest-2, 0); err != nil || complete {
		t.Fatalf("ChangesAfter(pruned) complete = %v, %v; want incomplete", complete, err)
	}
	if list := changes(t, s, oldest-1); len(list) != len(kept) {
		t.Fatalf("ChangesAfter(oldest-1) = %d changes, want %d", len(list), len(kept))
	}
	tick(t, time.Now().UTC())
	if _, err := s.PruneChanges(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, complete, err := s.ChangesAfter(ctx, 12, 0); err != nil || complete {
		t.Fatalf("nothing kept, behind the latest: complete = %v, %v; want incomplete", complete, err)
	}
	if list := changes(t, s, 13); len(list) != 0 {
		t.Fatalf("nothing kept, up to date: %+v", list)
	}
	if rev, err := s.ChangeRevision(ctx); err != nil || rev != 13 {
		t.Fatalf("ChangeRevision after pruning = %d, %v; want 13 (revisions are never reused)", rev, err)
	}
}
