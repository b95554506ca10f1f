package registry_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/registry"
)

func liveSet(vs ...string) func(string) bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return func(v string) bool { return m[v] }
}

func TestChoose(t *testing.T) {
	split := &registry.RoutingRules{Weights: map[string]int{"v1": 90, "v2": 10},
		Tenants: map[string][]string{"v2": {"t-canary"}, "v3": {"t-three"}}}
	onlyV2 := &registry.RoutingRules{Weights: map[string]int{"v1": 0, "v2": 1}}
	noWeights := &registry.RoutingRules{Tenants: map[string][]string{"v2": {"t-canary"}}}
	all := liveSet("v1", "v2", "v3")
	for _, tc := range []struct {
		name  string
		rules *registry.RoutingRules
		facts registry.RouteFacts
		live  func(string) bool
		want  registry.Choice
	}{
		{"no rules: any instance", nil, registry.RouteFacts{Pin: "v2"}, all, registry.Choice{}},
		{"pin wins over the allow-list and weights", split, registry.RouteFacts{Pin: "v3", Tenant: "t-canary"}, all, registry.Choice{Version: "v3"}},
		{"pin to a dead version falls back to the allow-list", split, registry.RouteFacts{Pin: "v9", Tenant: "t-canary"}, all,
			registry.Choice{Version: "v2", Fallback: true, Wanted: "v9"}},
		{"canary tenant goes to its version", split, registry.RouteFacts{Tenant: "t-three", UserID: "u"}, all, registry.Choice{Version: "v3"}},
		{"canary tenant whose version died follows the weights", split, registry.RouteFacts{Tenant: "t-three", UserID: "u"}, liveSet("v1", "v2"),
			registry.Choice{Version: pickFor(split, "u", "t-three"), Fallback: true, Wanted: "v3"}},
		{"weights decide", onlyV2, registry.RouteFacts{UserID: "u"}, all, registry.Choice{Version: "v2"}},
		{"no weighted version live: any live version, said", onlyV2, registry.RouteFacts{UserID: "u"}, liveSet("v1"),
			registry.Choice{Version: "v1", Fallback: true, Wanted: "v2"}},
		{"no weights: a reserved version serves only its tenants", noWeights, registry.RouteFacts{Tenant: "other"}, liveSet("v1", "v2"), registry.Choice{Version: "v1"}},
		{"no weights, canary dead: the others, said", noWeights, registry.RouteFacts{Tenant: "t-canary"}, liveSet("v1"),
			registry.Choice{Version: "v1", Fallback: true, Wanted: "v2"}},
		{"nothing live", onlyV2, registry.RouteFacts{UserID: "u"}, liveSet(), registry.Choice{Fallback: true, Wanted: "v2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := registry.Choose(tc.rules, tc.facts, []string{"v1", "v2"}, tc.live)
			if got != tc.want {
				t.Fatalf("Choose = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// pickFor is the weighted pick for a caller with every version live.
func pickFor(r *registry.RoutingRules, user, tenant string) string {
	return registry.Choose(&registry.RoutingRules{Weights: r.Weights, Sticky: r.Sticky}, registry.RouteFacts{UserID: user, Tenant: tenant}, nil, func(string) bool { return true }).Version
}

// TestChooseFallbackWeighted: users of a dead weighted version go to the
// live weighted ones, said; the others are not moved.
func TestChooseFallbackWeighted(t *testing.T) {
	rules := &registry.RoutingRules{Weights: map[string]int{"v2": 1, "v3": 1}}
	moved := 0
	for i := range 200 {
		user := fmt.Sprintf("u%d", i)
		before := pickFor(rules, user, "")
		got := registry.Choose(rules, registry.RouteFacts{UserID: user}, []string{"v1", "v3"}, liveSet("v1", "v3"))
		want := registry.Choice{Version: "v3"}
		if before == "v2" {
			want.Fallback, want.Wanted = true, "v2"
			moved++
		}
		if got != want {
			t.Fatalf("%s: Choose = %+v, want %+v", user, got, want)
		}
	}
	if moved == 0 || moved == 200 {
		t.Fatalf("%d of 200 users were on v2", moved)
	}
}

// TestChooseDistribution: 10,000 distinct users on a 90/10 split land
// within ±2 % of the weights.
func TestChooseDistribution(t *testing.T) {
	rules := &registry.RoutingRules{Weights: map[string]int{"stable": 90, "canary": 10}}
	for _, svc := range []string{"orders", "billing"} {
		counts := map[string]int{}
		for i := range 10000 {
			c := registry.Choose(rules, registry.RouteFacts{Service: svc, UserID: fmt.Sprintf("user-%d", i)}, nil, func(string) bool { return true })
			counts[c.Version]++
		}
		if got := float64(counts["canary"]) / 100; math.Abs(got-10) > 2 {
			t.Errorf("%s: canary got %.2f %% of 10,000 users, want 10 ± 2 (%v)", svc, got, counts)
		}
		if counts["stable"]+counts["canary"] != 10000 {
			t.Errorf("%s: counts %v", svc, counts)
		}
	}
}

// TestChooseSticky: a user always lands on one version, and raising the
// canary's weight moves only users onto the canary, never off it.
func TestChooseSticky(t *testing.T) {
	at10 := &registry.RoutingRules{Weights: map[string]int{"v1": 90, "v2": 10}}
	at30 := &registry.RoutingRules{Weights: map[string]int{"v1": 70, "v2": 30}}
	all := func(string) bool { return true }
	vs := []string{"v1", "v2"}
	for i := range 2000 {
		f := registry.RouteFacts{Service: "orders", UserID: fmt.Sprintf("u%d", i), Rand: uint64(i) * 0x9e3779b97f4a7c15}
		first := registry.Choose(at10, f, vs, all).Version
		for range 3 {
			f.Rand ^= 0xffff_ffff // the random draw plays no part for a known user
			if again := registry.Choose(at10, f, vs, all).Version; again != first {
				t.Fatalf("user %s: %s then %s", f.UserID, first, again)
			}
		}
		if first == "v2" && registry.Choose(at30, f, vs, all).Version != "v2" {
			t.Fatalf("user %s left the canary when its weight went up", f.UserID)
		}
	}
	// Sticky by tenant: every user of a tenant together.
	byTenant := &registry.RoutingRules{Weights: map[string]int{"v1": 50, "v2": 50}, Sticky: registry.StickyTenant}
	for tn := range 50 {
		tenant := fmt.Sprintf("t%d", tn)
		want := registry.Choose(byTenant, registry.RouteFacts{Tenant: tenant, UserID: "a"}, vs, all).Version
		for u := range 20 {
			if got := registry.Choose(byTenant, registry.RouteFacts{Tenant: tenant, UserID: fmt.Sprint(u)}, vs, all).Version; got != want {
				t.Fatalf("tenant %s: user %d on %s, the tenant on %s", tenant, u, got, want)
			}
		}
	}
	// Sticky none, or no identity: the random draw decides.
	none := &registry.RoutingRules{Weights: map[string]int{"v1": 50, "v2": 50}, Sticky: registry.StickyNone}
	seen := map[string]bool{}
	for i := range 64 {
		seen[registry.Choose(none, registry.RouteFacts{UserID: "same", Rand: uint64(i) << 58}, vs, all).Version] = true
	}
	if len(seen) != 2 {
		t.Fatalf("sticky none: one user saw %v, want both versions", seen)
	}
}

func TestRoutingRulesValidate(t *testing.T) {
	good := `{"header":"X-Canary","weights":{"v1":90,"v2":10},"sticky":"tenant","tenants":{"v2":["t1","t2"]}}`
	if err := registry.ValidateRoutingJSON(json.RawMessage(good)); err != nil {
		t.Fatalf("valid rules refused: %v", err)
	}
	if err := registry.ValidateRoutingJSON(json.RawMessage(`{}`)); err != nil {
		t.Fatalf("empty rules refused: %v", err)
	}
	for _, tc := range []struct{ value, field string }{
		{`[]`, "value"},
		{`{"weight":{"v1":1}}`, "value"}, // a typo is not silently ignored
		{`{} {}`, "value"},
		{`{"header":"X Bad"}`, "value.header"},
		{`{"sticky":"ip"}`, "value.sticky"},
		{`{"weights":{"v1":-1}}`, "value.weights.v1"},
		{`{"weights":{"v1":10001}}`, "value.weights.v1"},
		{`{"weights":{"":1}}`, "value.weights"},
		{`{"weights":{"a b":1}}`, "value.weights"},
		{`{"tenants":{"v2":[""]}}`, "value.tenants.v2"},
		{`{"tenants":{"v2":["t1"],"v3":["t1"]}}`, "value.tenants.v3"},
	} {
		err := registry.ValidateRoutingJSON(json.RawMessage(tc.value))
		var f *fault.Error
		if !errors.As(err, &f) || f.Fields[tc.field] == "" {
			t.Errorf("%s: got %v, want a fault naming %s", tc.value, err, tc.field)
		}
	}
}

func BenchmarkChoose(b *testing.B) {
	rules := &registry.RoutingRules{Weights: map[string]int{"v1": 90, "v2": 10}, Tenants: map[string][]string{"v2": {"t-canary"}}}
	live := func(string) bool { return true }
	versions := []string{"v1", "v2"}
	f := registry.RouteFacts{Service: "orders", UserID: "4f1c2a7e-user", Tenant: "acme"}
	b.ReportAllocs()
	for b.Loop() {
		registry.Choose(rules, f, versions, live)
	}
}
