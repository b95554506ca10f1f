// Package storetest is the contract suite every registry.Store must pass.
// Each implementation's test calls Run with a constructor of fresh stores.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
)

// Run exercises the store open returns; open is called once per subtest and
// must return an empty store.
func Run(t *testing.T, open func(t *testing.T) registry.Store) {
	ctx := context.Background()

	newInstance := func(name string, port int) *registry.Instance {
		return &registry.Instance{
			Name: name, DisplayName: "The " + name, Version: "1.0.0", Host: "10.0.0.1", Port: port,
			BasePath: "/v1", Metadata: json.RawMessage(`{"team":"a"}`), Tags: []string{"blue"},
			Endpoints: []registry.Endpoint{
				{Path: "/items", Method: "GET", Description: "list", IsPublic: true},
				{Path: "/items/{id}", Method: "DELETE", RequiredRoles: []string{"tenant_admin"}, RateLimit: json.RawMessage(`{"requests":10,"per":"1m"}`)},
			},
		}
	}

	t.Run("RegisterAndGet", func(t *testing.T) {
		s := open(t)
		in := newInstance("orders", 9000)
		in.Metadata = json.RawMessage(`{"b":[1,2.50,"x"],"a":{"nested":true},"big":12345678901234567890,"s":"\u00e9\ud83d\ude00"}`)
		ev, err := s.Register(ctx, in)
		if err != nil || ev.Type != registry.EventRegistered || ev.Revision != 1 || ev.Instance.ID != in.ID {
			t.Fatalf("Register = %+v, %v", ev, err)
		}
		if in.ID == "" || in.CreatedAt.IsZero() || in.LastHeartbeat.IsZero() || !in.IsActive {
			t.Fatalf("Register did not fill the instance: %+v", in)
		}
		got, err := s.Get(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "orders" || got.Port != 9000 || got.BasePath != "/v1" || got.Health != registry.HealthUnknown {
			t.Fatalf("Get = %+v", got)
		}
		if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(in.CreatedAt) {
			t.Fatalf("created_at = %v, want %v in UTC", got.CreatedAt, in.CreatedAt)
		}
		testenv.SameJSON(t, "metadata", got.Metadata, in.Metadata)
		if !reflect.DeepEqual(got.Tags, []string{"blue"}) {
			t.Fatalf("tags = %v", got.Tags)
		}
		if len(got.Endpoints) != 2 || got.Endpoints[0].Path != "/items" || !got.Endpoints[0].IsPublic ||
			got.Endpoints[1].RequiredRoles[0] != "tenant_admin" || got.Endpoints[0].RequiredRoles == nil {
			t.Fatalf("endpoints = %+v", got.Endpoints)
		}
		testenv.SameJSON(t, "rate_limit", got.Endpoints[1].RateLimit, json.RawMessage(`{"requests":10,"per":"1m"}`))
		if got.Endpoints[0].RateLimit != nil {
			t.Fatalf("absent rate_limit came back as %s", got.Endpoints[0].RateLimit)
		}
	})

	t.Run("UndeclaredPaths", func(t *testing.T) {
		s := open(t)
		in := newInstance("orders", 9000)
		if _, err := s.Register(ctx, in); err != nil || in.UndeclaredPaths != registry.UndeclaredAuthenticated {
			t.Fatalf("Register without undeclared_paths = %q, %v; want authenticated", in.UndeclaredPaths, err)
		}
		in = newInstance("orders", 9000)
		in.UndeclaredPaths = registry.UndeclaredDeny
		ev, err := s.Register(ctx, in)
		if err != nil || ev.Instance.UndeclaredPaths != registry.UndeclaredDeny {
			t.Fatalf("Register deny = %+v, %v", ev.Instance, err)
		}
		if got, err := s.Get(ctx, in.ID); err != nil || got.UndeclaredPaths != registry.UndeclaredDeny {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if list, err := s.List(ctx, registry.Filter{}); err != nil || len(list) != 1 || list[0].UndeclaredPaths != registry.UndeclaredDeny {
			t.Fatalf("List = %+v, %v", list, err)
		}
		if evs, _, err := s.EventsAfter(ctx, 1, 10); err != nil || len(evs) != 1 || evs[0].Instance.UndeclaredPaths != registry.UndeclaredDeny {
			t.Fatalf("EventsAfter = %+v, %v", evs, err)
		}
		bad := newInstance("orders", 9000)
		bad.UndeclaredPaths = "open"
		if _, err := s.Register(ctx, bad); !fault.Is(err, fault.Invalid) {
			t.Fatalf("Register undeclared_paths=open = %v, want invalid", err)
		}
		if got, _ := s.Get(ctx, in.ID); got.UndeclaredPaths != registry.UndeclaredDeny {
			t.Fatalf("a refused registration changed the instance: %+v", got)
		}
		again := newInstance("orders", 9000) // re-registering replaces the policy
		if _, err := s.Register(ctx, again); err != nil || again.UndeclaredPaths != registry.UndeclaredAuthenticated {
			t.Fatalf("re-register without undeclared_paths = %q, %v", again.UndeclaredPaths, err)
		}
	})

	t.Run("GetUnknown", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "nope"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("Get unknown = %v, want not_found", err)
		}
	})

	t.Run("ReRegisterUpdatesInPlace", func(t *testing.T) {
		s := open(t)
		first := newInstance("orders", 9000)
		if _, err := s.Register(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deregister(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		again := newInstance("orders", 9000)
		again.Version = "1.1.0"
		again.Endpoints = again.Endpoints[:1]
		ev, err := s.Register(ctx, again)
		if err != nil || ev.Type != registry.EventUpdated {
			t.Fatalf("re-Register = %+v, %v; want an update", ev, err)
		}
		if again.ID != first.ID {
			t.Fatalf("re-Register changed the ID: %s → %s", first.ID, again.ID)
		}
		got, _ := s.Get(ctx, first.ID)
		if got.Version != "1.1.0" || !got.IsActive || len(got.Endpoints) != 1 || !got.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("after re-Register: %+v", got)
		}
		all, _ := s.List(ctx, registry.Filter{IncludeInactive: true})
		if len(all) != 1 {
			t.Fatalf("%d instances after re-Register, want 1", len(all))
		}
	})

	t.Run("ConcurrentRegisterOfOneInstance", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		ids := make(chan string, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in := newInstance("race", 9000)
				if _, err := s.Register(ctx, in); err != nil {
					t.Error(err)
					return
				}
				ids <- in.ID
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		all, _ := s.List(ctx, registry.Filter{IncludeInactive: true})
		if len(seen) != 1 || len(all) != 1 {
			t.Fatalf("8 concurrent registrations gave IDs %v and %d rows, want one", seen, len(all))
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 15 {
					in := newInstance(fmt.Sprintf("svc-%d", w), 10000+i)
					if _, err := s.Register(ctx, in); err != nil {
						t.Error(err)
						return
					}
					if err := s.RecordHeartbeats(ctx, map[string]time.Time{in.ID: time.Now()}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		all, err := s.List(ctx, registry.Filter{})
		if err != nil || len(all) != 30 {
			t.Fatalf("two writers × 15 registrations: %d listed, %v", len(all), err)
		}
	})

	t.Run("ListFilters", func(t *testing.T) {
		s := open(t)
		a := newInstance("orders", 1)
		b := newInstance("orders", 2)
		b.Version, b.Tags = "2.0.0", []string{"green", "canary"}
		c := newInstance("billing", 3)
		c.Tags = nil
		for _, in := range []*registry.Instance{a, b, c} {
			if _, err := s.Register(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Deregister(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			f    registry.Filter
			want []string
		}{
			{"active only", registry.Filter{}, []string{a.ID, b.ID}},
			{"include inactive", registry.Filter{IncludeInactive: true}, []string{c.ID, a.ID, b.ID}},
			{"by name", registry.Filter{Name: "orders"}, []string{a.ID, b.ID}},
			{"by version", registry.Filter{Version: "2.0.0"}, []string{b.ID}},
			{"by tag", registry.Filter{Tag: "canary"}, []string{b.ID}},
			{"by missing tag", registry.Filter{Tag: "nope"}, nil},
			{"by inactive name", registry.Filter{Name: "billing"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.List(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, in := range got {
					ids = append(ids, in.ID)
				}
				if !reflect.DeepEqual(ids, tc.want) {
					t.Fatalf("List(%+v) = %v, want %v", tc.f, ids, tc.want)
				}
			})
		}
	})

	t.Run("HeartbeatAndExpiry", func(t *testing.T) {
		s := open(t)
		old := newInstance("orders", 1)
		fresh := newInstance("orders", 2)
		for _, in := range []*registry.Instance{old, fresh} {
			if _, err := s.Register(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC()
		later := now.Add(time.Hour)
		if err := s.RecordHeartbeats(ctx, map[string]time.Time{fresh.ID: later, "unknown": later}); err != nil {
			t.Fatal(err)
		}
		// A heartbeat never moves backwards.
		if err := s.RecordHeartbeats(ctx, map[string]time.Time{fresh.ID: now}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, fresh.ID); !got.LastHeartbeat.Equal(later.Truncate(time.Microsecond)) {
			t.Fatalf("last_heartbeat = %v, want %v", got.LastHeartbeat, later)
		}
		events, err := s.Expire(ctx, now.Add(time.Minute))
		if err != nil || len(events) != 1 || events[0].Type != registry.EventExpired || events[0].Instance.ID != old.ID || events[0].Instance.IsActive {
			t.Fatalf("Expire = %+v, %v; want one expired event for %s", events, err, old.ID)
		}
		if again, _ := s.Expire(ctx, now.Add(time.Minute)); len(again) != 0 {
			t.Fatalf("second Expire = %+v", again)
		}
		if err := s.RecordHeartbeats(ctx, map[string]time.Time{old.ID: later.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, old.ID); got.IsActive || got.LastHeartbeat.After(later) {
			t.Fatalf("a heartbeat revived or moved an expired instance: %+v", got)
		}
	})

	t.Run("Deregister", func(t *testing.T) {
		s := open(t)
		in := newInstance("orders", 1)
		if _, err := s.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
		ev, err := s.Deregister(ctx, in.ID)
		if err != nil || ev.Type != registry.EventDeregistered || ev.Instance.IsActive {
			t.Fatalf("Deregister = %+v, %v", ev, err)
		}
		if _, err := s.Deregister(ctx, in.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("second Deregister = %v, want not_found", err)
		}
		if _, err := s.Deregister(ctx, "nope"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("Deregister unknown = %v", err)
		}
		if got, err := s.Get(ctx, in.ID); err != nil || got.IsActive {
			t.Fatalf("Get after Deregister = %+v, %v; want the inactive instance", got, err)
		}
	})

	t.Run("SetHealth", func(t *testing.T) {
		s := open(t)
		in := newInstance("orders", 1)
		if _, err := s.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
		ev, changed, err := s.SetHealth(ctx, in.ID, registry.HealthUnhealthy)
		if err != nil || !changed || ev.Type != registry.EventHealth || ev.Instance.Health != registry.HealthUnhealthy {
			t.Fatalf("SetHealth = %+v, %v, %v", ev, changed, err)
		}
		rev, _ := s.Revision(ctx)
		if _, changed, err := s.SetHealth(ctx, in.ID, registry.HealthUnhealthy); err != nil || changed {
			t.Fatalf("repeated SetHealth: changed=%v err=%v", changed, err)
		}
		if again, _ := s.Revision(ctx); again != rev {
			t.Fatalf("an unchanged health state appended an event (revision %d → %d)", rev, again)
		}
		if _, _, err := s.SetHealth(ctx, in.ID, "sick"); !fault.Is(err, fault.Invalid) {
			t.Fatalf("SetHealth(sick) = %v, want invalid", err)
		}
		if _, _, err := s.SetHealth(ctx, "nope", registry.HealthHealthy); !fault.Is(err, fault.NotFound) {
			t.Fatalf("SetHealth unknown = %v", err)
		}
	})

	t.Run("ChangeFeed", func(t *testing.T) {
		s := open(t)
		if rev, err := s.Revision(ctx); err != nil || rev != 0 {
			t.Fatalf("Revision of an empty store = %d, %v", rev, err)
		}
		if evs, complete, err := s.EventsAfter(ctx, 0, 10); err != nil || !complete || len(evs) != 0 {
			t.Fatalf("EventsAfter(0) on an empty store = %v, %v, %v", evs, complete, err)
		}
		a := newInstance("orders", 1)
		_, _ = s.Register(ctx, a)                                // 1 registered
		_, _, _ = s.SetHealth(ctx, a.ID, registry.HealthHealthy) // 2 health
		_, _ = s.Register(ctx, newInstance("orders", 1))         // 3 updated
		_, _ = s.Deregister(ctx, a.ID)                           // 4 deregistered
		evs, complete, err := s.EventsAfter(ctx, 1, 10)
		if err != nil || !complete {
			t.Fatalf("EventsAfter(1) = %v, %v", complete, err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, fmt.Sprintf("%d:%s", ev.Revision, ev.Type))
			if ev.Instance == nil || ev.Instance.ID != a.ID || ev.At.IsZero() {
				t.Fatalf("event %d lacks its instance or time: %+v", ev.Revision, ev)
			}
		}
		if want := []string{"2:health", "3:updated", "4:deregistered"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("EventsAfter(1) = %v, want %v", got, want)
		}
		if evs[0].Instance.Health != registry.HealthHealthy || evs[2].Instance.IsActive {
			t.Fatalf("events do not carry the state after each change: %+v / %+v", evs[0].Instance, evs[2].Instance)
		}
		if evs, _, _ := s.EventsAfter(ctx, 1, 2); len(evs) != 2 {
			t.Fatalf("limit 2 gave %d events", len(evs))
		}
		if err := s.PruneEvents(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if _, complete, _ := s.EventsAfter(ctx, 1, 10); complete {
			t.Fatal("EventsAfter(1) claims completeness after events 1 and 2 were pruned")
		}
		if evs, complete, _ := s.EventsAfter(ctx, 2, 10); !complete || len(evs) != 2 {
			t.Fatalf("EventsAfter(2) after pruning = %d events, complete %v", len(evs), complete)
		}
	})

	t.Run("ConcurrentWritersGetContiguousRevisions", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		revs := make(chan int64, 40)
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					in := newInstance(fmt.Sprintf("w%d", w), 1000+i)
					ev, err := s.Register(ctx, in)
					if err != nil {
						t.Error(err)
						return
					}
					revs <- ev.Revision
					ev, err = s.Deregister(ctx, in.ID)
					if err != nil {
						t.Error(err)
						return
					}
					revs <- ev.Revision
				}
			}()
		}
		wg.Wait()
		close(revs)
		seen := map[int64]bool{}
		for r := range revs {
			if seen[r] {
				t.Fatalf("revision %d handed out twice", r)
			}
			seen[r] = true
		}
		evs, complete, err := s.EventsAfter(ctx, 0, 100)
		if err != nil || !complete || len(evs) != 40 {
			t.Fatalf("EventsAfter(0) = %d events, %v, %v", len(evs), complete, err)
		}
		for i, ev := range evs {
			if ev.Revision != int64(i+1) {
				t.Fatalf("event %d has revision %d: the feed has a gap", i, ev.Revision)
			}
		}
	})

	t.Run("BadInputLeavesNothing", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			name   string
			mutate func(*registry.Instance)
			field  string
		}{
			{"malformed metadata", func(in *registry.Instance) { in.Metadata = json.RawMessage(`{"a":`) }, "metadata"},
			{"metadata not an object", func(in *registry.Instance) { in.Metadata = json.RawMessage(`[1,2]`) }, "metadata"},
			{"malformed rate limit", func(in *registry.Instance) { in.Endpoints[1].RateLimit = json.RawMessage(`{oops}`) }, "endpoints[1].rate_limit"},
			{"duplicate endpoint", func(in *registry.Instance) { in.Endpoints[1] = in.Endpoints[0] }, "endpoints[1]"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := newInstance("bad", 1)
				tc.mutate(in)
				_, err := s.Register(ctx, in)
				if !fault.Is(err, fault.Invalid) || fault.Fields(err)[tc.field] == "" {
					t.Fatalf("Register = %v (fields %v), want invalid naming %s", err, fault.Fields(err), tc.field)
				}
			})
		}
		if all, _ := s.List(ctx, registry.Filter{IncludeInactive: true}); len(all) != 0 {
			t.Fatalf("rejected registrations left %d rows", len(all))
		}
	})
}
