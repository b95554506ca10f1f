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

	"github.com/plugboard/plugboard/core/platform/fault"
	"github.com/plugboard/plugboard/core/platform/testenv"
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
		created, err := s.Register(ctx, in)
		if err != nil || !created {
			t.Fatalf("Register = %v, %v", created, err)
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
		if err := s.Deactivate(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		again := newInstance("orders", 9000)
		again.Version = "1.1.0"
		again.Endpoints = again.Endpoints[:1]
		created, err := s.Register(ctx, again)
		if err != nil || created {
			t.Fatalf("re-Register = %v, %v; want an update", created, err)
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
					if err := s.Heartbeat(ctx, in.ID, time.Now()); err != nil {
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
		if err := s.Deactivate(ctx, c.ID); err != nil {
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
		if err := s.Heartbeat(ctx, fresh.ID, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		expired, err := s.ExpireBefore(ctx, now.Add(time.Minute))
		if err != nil || !reflect.DeepEqual(expired, []string{old.ID}) {
			t.Fatalf("ExpireBefore = %v, %v; want [%s]", expired, err, old.ID)
		}
		if err := s.Heartbeat(ctx, old.ID, now); !fault.Is(err, fault.NotFound) {
			t.Fatalf("Heartbeat of an expired instance = %v, want not_found", err)
		}
		if err := s.Heartbeat(ctx, "nope", now); !fault.Is(err, fault.NotFound) {
			t.Fatalf("Heartbeat of an unknown instance = %v, want not_found", err)
		}
		got, _ := s.Get(ctx, fresh.ID)
		if !got.LastHeartbeat.Equal(now.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("last_heartbeat = %v", got.LastHeartbeat)
		}
	})

	t.Run("DeactivateAndDelete", func(t *testing.T) {
		s := open(t)
		in := newInstance("orders", 1)
		if _, err := s.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Deactivate(ctx, in.ID); err != nil {
				t.Fatalf("Deactivate: %v", err)
			}
		}
		if err := s.Deactivate(ctx, "nope"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("Deactivate unknown = %v", err)
		}
		if err := s.Delete(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, in.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("second Delete = %v", err)
		}
		if _, err := s.Get(ctx, in.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	})

	t.Run("SetHealth", func(t *testing.T) {
		s := open(t)
		in := newInstance("orders", 1)
		if _, err := s.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHealth(ctx, in.ID, registry.HealthFailing); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, in.ID); got.Health != registry.HealthFailing {
			t.Fatalf("health = %s", got.Health)
		}
		if err := s.SetHealth(ctx, in.ID, "sick"); !fault.Is(err, fault.Invalid) {
			t.Fatalf("SetHealth(sick) = %v, want invalid", err)
		}
		if err := s.SetHealth(ctx, "nope", registry.HealthPassing); !fault.Is(err, fault.NotFound) {
			t.Fatalf("SetHealth unknown = %v", err)
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
