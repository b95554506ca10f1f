package dynamicupstreams

import (
	"reflect"
	"testing"
	"time"

	"github.com/plugboard/plugboard/registry"
)

func TestBuild(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inst := func(id, name, host string, port int, base string, h registry.Health, age int) *registry.Instance {
		return &registry.Instance{ID: id, Name: name, Host: host, Port: port, BasePath: base, Health: h,
			IsActive: true, UpdatedAt: t0.Add(time.Duration(age) * time.Second)}
	}
	active := map[string]*registry.Instance{}
	for _, in := range []*registry.Instance{
		inst("b", "orders", "10.0.0.2", 80, "/v1", registry.HealthHealthy, 1),
		inst("a", "orders", "10.0.0.1", 80, "/v1", registry.HealthUnknown, 2),
		inst("c", "orders", "10.0.0.3", 80, "/v1", registry.HealthUnhealthy, 3),
		inst("d", "orders", "fd00::4", 80, "/v0", registry.HealthHealthy, 0), // older base path
		inst("e", "billing", "10.0.0.5", 81, "", registry.HealthUnhealthy, 0),
	} {
		active[in.ID] = in
	}
	// The newest instance's policy for undeclared paths is the service's.
	active["c"].UndeclaredPaths = registry.UndeclaredDeny
	active["b"].UndeclaredPaths = registry.UndeclaredAuthenticated
	snap := build(7, active, map[string]bool{"orders": true, "billing": true, "gone": true})
	if snap.Revision != 7 {
		t.Fatalf("revision %d", snap.Revision)
	}
	orders := snap.Services["orders"]
	if orders.BasePath != "/v1" || orders.Registered != 4 ||
		!reflect.DeepEqual(orders.Dials, []string{"10.0.0.1:80", "10.0.0.2:80"}) {
		t.Fatalf("orders = %+v", orders)
	}
	if orders.UndeclaredPaths != registry.UndeclaredDeny {
		t.Fatalf("orders.UndeclaredPaths = %q, want the newest instance's %q", orders.UndeclaredPaths, registry.UndeclaredDeny)
	}
	if b := snap.Services["billing"]; b == nil || len(b.Dials) != 0 || b.Registered != 1 {
		t.Fatalf("billing (only unhealthy) = %+v", b)
	}
	if g := snap.Services["gone"]; g == nil || len(g.Dials) != 0 {
		t.Fatalf("a known name without instances must stay (503, not 404): %+v", g)
	}
	if snap.Services["never"] != nil {
		t.Fatal("an unknown name is in the snapshot")
	}
}

func TestStateApply(t *testing.T) {
	st := newState()
	st.replace(3, []*registry.Instance{
		{ID: "1", Name: "a", IsActive: true},
		{ID: "2", Name: "b", IsActive: false},
	})
	if len(st.active) != 1 || !st.known["a"] || !st.known["b"] || st.rev != 3 {
		t.Fatalf("after replace: %+v", st)
	}
	st.apply(&registry.Instance{ID: "1", Name: "a", IsActive: false})
	if len(st.active) != 0 || !st.known["a"] {
		t.Fatalf("after deactivation: %+v", st)
	}
}
