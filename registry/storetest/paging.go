package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plugboard/plugboard/registry"
)

// testPaging checks what the console's tables read: List's Offset and
// Limit, Count, the NameContains filter and the per-service Services.
func testPaging(t *testing.T, open func(t *testing.T) registry.Store) {
	ctx := context.Background()

	// seed registers orders ×3 (one unhealthy, one of version 2.0.0),
	// billing (tagged green) and search, deregistered.
	seed := func(t *testing.T, s registry.Store) (ids map[string][]string) {
		t.Helper()
		ids = map[string][]string{}
		for i, name := range []string{"orders", "orders", "orders", "billing", "search"} {
			in := newInstance(name, 9000+i)
			switch i {
			case 1:
				in.Version = "2.0.0"
			case 3:
				in.Tags = []string{"green", "blue"}
			}
			if _, err := s.Register(ctx, in); err != nil {
				t.Fatal(err)
			}
			ids[name] = append(ids[name], in.ID)
		}
		if _, _, err := s.SetHealth(ctx, ids["orders"][2], registry.HealthUnhealthy); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deregister(ctx, ids["search"][0]); err != nil {
			t.Fatal(err)
		}
		return ids
	}

	t.Run("ListOffsetLimitAndCount", func(t *testing.T) {
		s := open(t)
		seed(t, s)
		all, err := s.List(ctx, registry.Filter{})
		if err != nil || len(all) != 4 {
			t.Fatalf("List = %d, %v", len(all), err)
		}
		for _, tc := range []struct {
			f    registry.Filter
			want []*registry.Instance
		}{
			{registry.Filter{Limit: 2}, all[:2]},
			{registry.Filter{Limit: 2, Offset: 3}, all[3:]},
			{registry.Filter{Offset: 1}, all[1:]},
			{registry.Filter{Offset: 9}, nil},
			{registry.Filter{Name: "orders", Limit: 1, Offset: 1}, all[2:3]},
		} {
			got, err := s.List(ctx, tc.f)
			if err != nil || !sameIDs(got, tc.want) {
				t.Errorf("List(%+v) = %d instances, %v; want %d", tc.f, len(got), err, len(tc.want))
			}
			if got == nil || len(got) > 0 && len(got[0].Endpoints) == 0 {
				t.Errorf("List(%+v) lost endpoints or returned nil", tc.f)
			}
		}
		for _, tc := range []struct {
			f    registry.Filter
			want int
		}{
			{registry.Filter{}, 4},
			{registry.Filter{Limit: 1, Offset: 2}, 4},
			{registry.Filter{IncludeInactive: true}, 5},
			{registry.Filter{Name: "orders"}, 3},
			{registry.Filter{Tag: "green"}, 1},
			{registry.Filter{Version: "2.0.0"}, 1},
			{registry.Filter{NameContains: "rde"}, 3},
			{registry.Filter{NameContains: "%"}, 0},
		} {
			if n, err := s.Count(ctx, tc.f); err != nil || n != tc.want {
				t.Errorf("Count(%+v) = %d, %v; want %d", tc.f, n, err, tc.want)
			}
		}
	})

	t.Run("Services", func(t *testing.T) {
		s := open(t)
		seed(t, s)
		got, err := s.Services(ctx, registry.Filter{})
		if err != nil || len(got) != 2 || got[0].Name != "billing" || got[1].Name != "orders" {
			t.Fatalf("Services = %+v, %v", got, err)
		}
		b, o := got[0], got[1]
		if b.Instances != 1 || b.Healthy != 1 || !slices.Equal(b.Tags, []string{"blue", "green"}) || !slices.Equal(b.Versions, []string{"1.0.0"}) {
			t.Errorf("billing = %+v", b)
		}
		if o.Instances != 3 || o.Healthy != 2 || o.Unhealthy != 1 || !slices.Equal(o.Versions, []string{"1.0.0", "2.0.0"}) ||
			!slices.Equal(o.Tags, []string{"blue"}) || o.LastHeartbeat.IsZero() || o.LastHeartbeat.Location() != time.UTC {
			t.Errorf("orders = %+v", o)
		}
		if got, _ := s.Services(ctx, registry.Filter{IncludeInactive: true}); len(got) != 3 {
			t.Errorf("Services with inactive: %+v", got)
		}
		if got, _ := s.Services(ctx, registry.Filter{Version: "2.0.0"}); len(got) != 1 || got[0].Instances != 1 {
			t.Errorf("Services of version 2.0.0: %+v", got)
		}
		if got, _ := s.Services(ctx, registry.Filter{NameContains: "ill"}); len(got) != 1 || got[0].Name != "billing" {
			t.Errorf("Services containing ill: %+v", got)
		}
		if got, err := s.Services(ctx, registry.Filter{Name: "none"}); err != nil || got == nil || len(got) != 0 {
			t.Errorf("Services of nothing = %v, %v; want an empty list", got, err)
		}
	})
}

func sameIDs(a, b []*registry.Instance) bool {
	return slices.EqualFunc(a, b, func(x, y *registry.Instance) bool { return x.ID == y.ID })
}
