package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
)

var (
	alice = core.Author{ID: "user-alice", Name: "alice"}
	bob   = core.Author{ID: "user-bob", Name: "bob"}
)

func newEntry(scope, service, key, value string) *core.ConfigEntry {
	return &core.ConfigEntry{Scope: scope, Service: service, Key: key, Value: json.RawMessage(value)}
}

func mustPut(t *testing.T, s core.Store, e *core.ConfigEntry, expect *int, author core.Author, comment string) *core.ConfigEntry {
	t.Helper()
	got, err := s.PutConfig(ctx, e, expect, author, comment)
	if err != nil {
		t.Fatalf("PutConfig(%q, %s/%s): %v", e.Scope, e.Service, e.Key, err)
	}
	return got
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if !fault.Is(err, code) {
		t.Fatalf("%s = %v, want %s", what, err, code)
	}
}

func configKeys(list []*core.ConfigEntry) []string {
	return ids(list, func(e *core.ConfigEntry) string { return e.Scope + "|" + e.Service + "|" + e.Key })
}

func testConfig(t *testing.T, open func(t *testing.T) core.Store) {
	t.Run("PutAndGet", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		// Odd spacing, key order, number spelling and escapes must survive
		// byte for byte on both engines.
		value := ` {"z": 1.50,  "a":[1e3, -0.0, 12345678901234567890], "s":"\u00e9\ud83d\ude00 a\u0000b", "n":null} `
		value = strings.TrimSpace(value)
		e := mustPut(t, s, newEntry(tn.ID, "orders", "db/url", value), nil, alice, "first")
		if e.Version != 1 || !e.Created || string(e.Value) != value || e.UpdatedBy != alice ||
			e.CreatedAt.IsZero() || !e.UpdatedAt.Equal(e.CreatedAt) {
			t.Fatalf("PutConfig (new) = %+v", e)
		}
		got, err := s.GetConfig(ctx, tn.ID, "orders", "db/url")
		if err != nil {
			t.Fatal(err)
		}
		if got.Scope != tn.ID || got.Service != "orders" || got.Key != "db/url" || got.Version != 1 ||
			string(got.Value) != value || got.UpdatedBy != alice || got.Created {
			t.Fatalf("GetConfig = %+v", got)
		}
		sameTime(t, "created_at", got.CreatedAt, e.CreatedAt)
		sameTime(t, "updated_at", got.UpdatedAt, e.UpdatedAt)

		e2 := mustPut(t, s, newEntry(tn.ID, "orders", "db/url", `"postgres://db"`), nil, bob, "")
		if e2.Version != 2 || e2.Created || string(e2.Value) != `"postgres://db"` || e2.UpdatedBy != bob {
			t.Fatalf("PutConfig (update) = %+v", e2)
		}
		sameTime(t, "created_at after update", e2.CreatedAt, e.CreatedAt)
		got, err = s.GetConfig(ctx, tn.ID, "orders", "db/url")
		if err != nil || got.Version != 2 || string(got.Value) != `"postgres://db"` || got.UpdatedBy != bob {
			t.Fatalf("GetConfig after update = %+v, %v", got, err)
		}

		for _, v := range []string{`null`, `0`, `"x"`, `[]`, `{}`, `true`, `{"deep":{"er":[{"x":"\"quoted\""}]}}`} {
			e := mustPut(t, s, newEntry("", "orders", "any", v), nil, alice, "")
			if got, err := s.GetConfig(ctx, "", "orders", "any"); err != nil || string(got.Value) != v || got.Version != e.Version {
				t.Fatalf("value %s: GetConfig = %+v, %v", v, got, err)
			}
		}
	})

	t.Run("Validation", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			name, field string
			e           *core.ConfigEntry
			comment     string
		}{
			{"empty service", "service", newEntry("", "", "k", `1`), ""},
			{"upper-case service", "service", newEntry("", "Orders", "k", `1`), ""},
			{"service starting with -", "service", newEntry("", "-orders", "k", `1`), ""},
			{"long service", "service", newEntry("", strings.Repeat("s", 64), "k", `1`), ""},
			{"empty key", "key", newEntry("", "orders", "", `1`), ""},
			{"key starting with /", "key", newEntry("", "orders", "/k", `1`), ""},
			{"key with a space", "key", newEntry("", "orders", "a b", `1`), ""},
			{"long key", "key", newEntry("", "orders", strings.Repeat("k", 129), `1`), ""},
			{"no value", "value", newEntry("", "orders", "k", ``), ""},
			{"bad JSON", "value", newEntry("", "orders", "k", `{"a":`), ""},
			{"two values", "value", newEntry("", "orders", "k", `1 2`), ""},
			{"bare word", "value", newEntry("", "orders", "k", `hello`), ""},
			{"invalid UTF-8", "value", newEntry("", "orders", "k", "\"\xff\""), ""},
			{"huge value", "value", newEntry("", "orders", "k", `"`+strings.Repeat("x", core.MaxConfigValue)+`"`), ""},
			{"long comment", "comment", newEntry("", "orders", "k", `1`), strings.Repeat("c", core.MaxConfigComment+1)},
			{"control character in comment", "comment", newEntry("", "orders", "k", `1`), "a\x00b"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.PutConfig(ctx, tc.e, nil, alice, tc.comment)
				if !fault.Is(err, fault.Invalid) || fault.Fields(err)[tc.field] == "" {
					t.Fatalf("PutConfig = %v (fields %v), want invalid naming %s", err, fault.Fields(err), tc.field)
				}
			})
		}
		if list, err := s.ListConfig(ctx, core.ConfigFilter{}); err != nil || len(list) != 0 {
			t.Fatalf("after invalid writes, ListConfig = %v, %v", configKeys(list), err)
		}
		// The largest value and comment allowed are accepted.
		big := `"` + strings.Repeat("x", core.MaxConfigValue-2) + `"`
		if e := mustPut(t, s, newEntry("", "orders", "big", big), nil, alice, strings.Repeat("c", core.MaxConfigComment)); len(e.Value) != core.MaxConfigValue {
			t.Fatalf("big value came back with %d bytes", len(e.Value))
		}
	})

	t.Run("UnknownTenant", func(t *testing.T) {
		s := open(t)
		_, err := s.PutConfig(ctx, newEntry("no-such-tenant", "orders", "k", `1`), nil, alice, "")
		wantCode(t, "PutConfig in an unknown tenant", err, fault.NotFound)
	})

	t.Run("ExpectedVersion", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		put := func(expect *int) (*core.ConfigEntry, error) {
			return s.PutConfig(ctx, newEntry(tn.ID, "orders", "k", fmt.Sprintf(`{"expect":%v}`, expect != nil)), expect, alice, "")
		}
		_, err := put(ptr(1))
		wantCode(t, "create expecting version 1", err, fault.Precondition)
		_, err = put(ptr(-1))
		wantCode(t, "create expecting version -1", err, fault.Invalid)
		e, err := put(ptr(0))
		if err != nil || e.Version != 1 {
			t.Fatalf("create expecting absence = %+v, %v", e, err)
		}
		_, err = put(ptr(0))
		wantCode(t, "create expecting absence of an existing entry", err, fault.Precondition)
		_, err = put(ptr(2))
		wantCode(t, "update expecting a future version", err, fault.Precondition)
		if e, err = put(ptr(1)); err != nil || e.Version != 2 {
			t.Fatalf("update expecting version 1 = %+v, %v", e, err)
		}
		_, err = put(ptr(1))
		wantCode(t, "update expecting a stale version", err, fault.Precondition)
		if e, err = put(nil); err != nil || e.Version != 3 {
			t.Fatalf("blind update = %+v, %v", e, err)
		}
		_, err = s.DeleteConfig(ctx, tn.ID, "orders", "k", ptr(2), alice)
		wantCode(t, "delete expecting a stale version", err, fault.Precondition)
		_, err = s.DeleteConfig(ctx, tn.ID, "orders", "k", ptr(0), alice)
		wantCode(t, "delete expecting absence", err, fault.Precondition)
		if h, err := s.ConfigHistory(ctx, tn.ID, "orders", "k"); err != nil || len(h) != 3 {
			t.Fatalf("failed preconditions wrote versions: %d, %v", len(h), err)
		}
		d, err := s.DeleteConfig(ctx, tn.ID, "orders", "k", ptr(3), alice)
		if err != nil || d.Version != 4 {
			t.Fatalf("delete expecting version 3 = %+v, %v", d, err)
		}
		// A deleted entry does not exist: it is not at its deleting version,
		// and may be created again expecting absence.
		_, err = put(ptr(4))
		wantCode(t, "update of a deleted entry expecting its deleting version", err, fault.Precondition)
		if e, err = put(ptr(0)); err != nil || e.Version != 5 || !e.Created {
			t.Fatalf("re-create expecting absence = %+v, %v", e, err)
		}
	})

	t.Run("DeleteKeepsHistory", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		first := mustPut(t, s, newEntry(tn.ID, "orders", "k", `{"v":1}`), nil, alice, "one")
		mustPut(t, s, newEntry(tn.ID, "orders", "k", `{"v":2}`), nil, bob, "two")
		d, err := s.DeleteConfig(ctx, tn.ID, "orders", "k", nil, alice)
		if err != nil || d.Version != 3 || string(d.Value) != "null" || d.UpdatedBy != alice {
			t.Fatalf("DeleteConfig = %+v, %v", d, err)
		}
		_, err = s.GetConfig(ctx, tn.ID, "orders", "k")
		wantCode(t, "GetConfig of a deleted entry", err, fault.NotFound)
		if list, err := s.ListConfig(ctx, core.ConfigFilter{}); err != nil || len(list) != 0 {
			t.Fatalf("ListConfig after delete = %v, %v", configKeys(list), err)
		}
		_, err = s.DeleteConfig(ctx, tn.ID, "orders", "k", nil, alice)
		wantCode(t, "DeleteConfig twice", err, fault.NotFound)

		h, err := s.ConfigHistory(ctx, tn.ID, "orders", "k")
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Version int
			Value   string
			Deleted bool
			Author  core.Author
			Comment string
		}
		var got []row
		for _, v := range h {
			if v.Scope != tn.ID || v.Service != "orders" || v.Key != "k" || v.CreatedAt.IsZero() {
				t.Fatalf("history version = %+v", v)
			}
			got = append(got, row{v.Version, string(v.Value), v.Deleted, v.Author, v.Comment})
		}
		want := []row{{3, "null", true, alice, ""}, {2, `{"v":2}`, false, bob, "two"}, {1, `{"v":1}`, false, alice, "one"}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ConfigHistory = %+v, want %+v", got, want)
		}
		sameTime(t, "version 1 created_at", h[2].CreatedAt, first.CreatedAt)

		v, err := s.ConfigVersionAt(ctx, tn.ID, "orders", "k", 1)
		if err != nil || v.Version != 1 || string(v.Value) != `{"v":1}` || v.Author != alice || v.Comment != "one" || v.Deleted {
			t.Fatalf("ConfigVersionAt(1) = %+v, %v", v, err)
		}
		_, err = s.ConfigVersionAt(ctx, tn.ID, "orders", "k", 4)
		wantCode(t, "ConfigVersionAt(4)", err, fault.NotFound)

		// Writing again continues the numbering and counts as a creation.
		e := mustPut(t, s, newEntry(tn.ID, "orders", "k", `{"v":4}`), nil, bob, "back")
		if e.Version != 4 || !e.Created || !e.CreatedAt.After(first.CreatedAt) {
			t.Fatalf("PutConfig after delete = %+v", e)
		}
		if h, err := s.ConfigHistory(ctx, tn.ID, "orders", "k"); err != nil || len(h) != 4 || h[0].Version != 4 {
			t.Fatalf("history after re-create: %d versions, %v", len(h), err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		mustPut(t, s, newEntry(tn.ID, "orders", "k", `1`), nil, alice, "")
		tests := []struct {
			name string
			err  error
		}{
			{"GetConfig other key", func() error { _, err := s.GetConfig(ctx, tn.ID, "orders", "other"); return err }()},
			{"GetConfig other service", func() error { _, err := s.GetConfig(ctx, tn.ID, "billing", "k"); return err }()},
			{"GetConfig global", func() error { _, err := s.GetConfig(ctx, "", "orders", "k"); return err }()},
			{"DeleteConfig", func() error { _, err := s.DeleteConfig(ctx, tn.ID, "orders", "other", nil, alice); return err }()},
			{"DeleteConfig expecting a version", func() error {
				_, err := s.DeleteConfig(ctx, tn.ID, "orders", "other", ptr(1), alice)
				return err
			}()},
			{"ConfigHistory", func() error { _, err := s.ConfigHistory(ctx, tn.ID, "orders", "other"); return err }()},
			{"ConfigVersionAt", func() error { _, err := s.ConfigVersionAt(ctx, tn.ID, "orders", "other", 1); return err }()},
		}
		for _, tc := range tests {
			wantCode(t, tc.name, tc.err, fault.NotFound)
		}
	})

	t.Run("ListAndIsolation", func(t *testing.T) {
		s := open(t)
		a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
		for _, e := range []*core.ConfigEntry{
			newEntry(a.ID, "orders", "db/url", `"a-db"`),
			newEntry(a.ID, "orders", "db/pool", `5`),
			newEntry(a.ID, "orders", "Db/upper", `0`),
			newEntry(a.ID, "orders", "dbx", `1`),
			newEntry(a.ID, "billing", "db/url", `"a-billing"`),
			newEntry(b.ID, "orders", "db/url", `"b-db"`),
			newEntry("", "orders", "db/url", `"global-db"`),
			newEntry(a.ID, "orders", "gone", `1`),
		} {
			mustPut(t, s, e, nil, alice, "")
		}
		if _, err := s.DeleteConfig(ctx, a.ID, "orders", "gone", nil, alice); err != nil {
			t.Fatal(err)
		}
		global := ""
		tests := []struct {
			name string
			f    core.ConfigFilter
			want []string
		}{
			{"tenant a, orders", core.ConfigFilter{Scope: &a.ID, Service: "orders"},
				[]string{a.ID + "|orders|Db/upper", a.ID + "|orders|db/pool", a.ID + "|orders|db/url", a.ID + "|orders|dbx"}},
			{"tenant a, prefix db/ (case-sensitive)", core.ConfigFilter{Scope: &a.ID, Prefix: "db/"},
				[]string{a.ID + "|billing|db/url", a.ID + "|orders|db/pool", a.ID + "|orders|db/url"}},
			{"prefix with LIKE wildcards", core.ConfigFilter{Scope: &a.ID, Prefix: "d_"}, nil},
			{"tenant b", core.ConfigFilter{Scope: &b.ID}, []string{b.ID + "|orders|db/url"}},
			{"global", core.ConfigFilter{Scope: &global}, []string{"|orders|db/url"}},
			{"unknown tenant", core.ConfigFilter{Scope: ptr("nope")}, nil},
			{"every scope, orders db/url", core.ConfigFilter{Service: "orders", Prefix: "db/url"},
				[]string{"|orders|db/url", a.ID + "|orders|db/url", b.ID + "|orders|db/url"}},
		}
		for _, tc := range tests {
			list, err := s.ListConfig(ctx, tc.f)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := configKeys(list); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s: ListConfig = %v, want %v", tc.name, got, tc.want)
			}
		}
		_, err := s.ListConfig(ctx, core.ConfigFilter{Service: "Orders"})
		if !fault.Is(err, fault.Invalid) || fault.Fields(err)["service"] == "" {
			t.Fatalf("ListConfig with a bad service = %v (fields %v), want invalid naming service", err, fault.Fields(err))
		}
		list, err := s.ListConfig(ctx, core.ConfigFilter{Scope: &b.ID})
		if err != nil || len(list) != 1 || string(list[0].Value) != `"b-db"` || list[0].Version != 1 || list[0].UpdatedBy != alice {
			t.Fatalf("tenant b's entry = %+v, %v", list, err)
		}
		// Writing and deleting in one scope leaves the others alone.
		if _, err := s.DeleteConfig(ctx, b.ID, "orders", "db/url", nil, bob); err != nil {
			t.Fatal(err)
		}
		for _, scope := range []string{a.ID, ""} {
			if e, err := s.GetConfig(ctx, scope, "orders", "db/url"); err != nil || e.Version != 1 {
				t.Fatalf("scope %q after deleting b's entry: %+v, %v", scope, e, err)
			}
		}
	})

	t.Run("Concurrency", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		mustPut(t, s, newEntry(tn.ID, "orders", "k", `0`), nil, alice, "")
		for round := 1; round <= 5; round++ {
			errs := race(2, func(i int) error {
				_, err := s.PutConfig(ctx, newEntry(tn.ID, "orders", "k", fmt.Sprintf(`{"round":%d,"writer":%d}`, round, i)), ptr(round), alice, "")
				return err
			})
			oneWinner(t, fmt.Sprintf("round %d: two writers expecting version %d", round, round), errs, fault.Precondition)
		}
		if h, err := s.ConfigHistory(ctx, tn.ID, "orders", "k"); err != nil || len(h) != 6 || h[0].Version != 6 {
			t.Fatalf("after 5 rounds: %d versions, %v", len(h), err)
		}

		// Two creators expecting absence: one wins.
		for round := range 5 {
			key := fmt.Sprintf("new-%d", round)
			errs := race(2, func(i int) error {
				_, err := s.PutConfig(ctx, newEntry(tn.ID, "orders", key, fmt.Sprint(i)), ptr(0), alice, "")
				return err
			})
			oneWinner(t, "two creators of "+key, errs, fault.Precondition)
		}

		// Blind writers never fail and each gets its own version.
		const writers, writes = 4, 5
		errs := race(writers, func(i int) error {
			for j := range writes {
				if _, err := s.PutConfig(ctx, newEntry(tn.ID, "orders", "blind", fmt.Sprint(i*100+j)), nil, alice, ""); err != nil {
					return err
				}
			}
			return nil
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		h, err := s.ConfigHistory(ctx, tn.ID, "orders", "blind")
		if err != nil || len(h) != writers*writes {
			t.Fatalf("blind writers: %d versions, %v", len(h), err)
		}
		for i, v := range h {
			if v.Version != writers*writes-i {
				t.Fatalf("blind writers: history[%d] is version %d", i, v.Version)
			}
		}
	})
}
