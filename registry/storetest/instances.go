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

// testInstances checks registering, reading, listing and deregistering instances.
func testInstances(t *testing.T, open func(t *testing.T) registry.Store) {
	ctx := context.Background()

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
		gotRL, _ := json.Marshal(got.Endpoints[1].RateLimit)
		testenv.SameJSON(t, "rate_limit", gotRL, json.RawMessage(`{"requests":10,"per":"1m"}`))
		if got.Endpoints[0].RateLimit != nil {
			t.Fatalf("absent rate_limit came back as %+v", got.Endpoints[0].RateLimit)
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

	t.Run("Resilience", func(t *testing.T) {
		s := open(t)
		in := newInstance("orders", 9000)
		two := 2
		in.Resilience = &registry.Resilience{Timeout: "250ms", Retries: &two, RetryOn: []string{"503", "timeout"}}
		ev, err := s.Register(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"timeout":"250ms","retries":2,"retry_on":["503","timeout"]}`
		for what, r := range map[string]*registry.Resilience{"Register": in.Resilience, "event": ev.Instance.Resilience} {
			got, _ := json.Marshal(r)
			testenv.SameJSON(t, what, got, json.RawMessage(want))
		}
		if got, err := s.Get(ctx, in.ID); err != nil || got.Resilience == nil || got.Resilience.Timeout != "250ms" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		again := newInstance("orders", 9000) // re-registering without it: the defaults again
		if _, err := s.Register(ctx, again); err != nil || again.Resilience != nil {
			t.Fatalf("re-register without resilience = %+v, %v", again.Resilience, err)
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

	t.Run("BadInputLeavesNothing", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			name   string
			mutate func(*registry.Instance)
			field  string
		}{
			{"malformed metadata", func(in *registry.Instance) { in.Metadata = json.RawMessage(`{"a":`) }, "metadata"},
			{"metadata not an object", func(in *registry.Instance) { in.Metadata = json.RawMessage(`[1,2]`) }, "metadata"},
			{"malformed rate limit", func(in *registry.Instance) { in.Endpoints[1].RateLimit = &registry.RateLimit{Requests: 10, Per: "1y"} }, "endpoints[1].rate_limit.per"},
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
