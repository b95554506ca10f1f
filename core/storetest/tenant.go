package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/testenv"
)

func testTenants(t *testing.T, open func(t *testing.T) core.Store) {
	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		tn := newTenant("acme")
		tn.Config = json.RawMessage(`{"b":[1,2.50,"x"],"a":{"nested":true},"big":12345678901234567890,"s":"\u00e9\ud83d\ude00","e":"a\\u0000b"}`)
		tn.EnabledServices = []string{"orders", "billing"}
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		if tn.ID == "" || tn.CreatedAt.IsZero() || !tn.UpdatedAt.Equal(tn.CreatedAt) {
			t.Fatalf("CreateTenant did not fill the tenant: %+v", tn)
		}
		for _, get := range []struct {
			name string
			fn   func() (*core.Tenant, error)
		}{
			{"GetTenant", func() (*core.Tenant, error) { return s.GetTenant(ctx, tn.ID) }},
			{"GetTenantByName", func() (*core.Tenant, error) { return s.GetTenantByName(ctx, "acme") }},
		} {
			got, err := get.fn()
			if err != nil {
				t.Fatalf("%s: %v", get.name, err)
			}
			if got.ID != tn.ID || got.Name != "acme" || got.DisplayName != "The acme" || !got.IsActive ||
				!reflect.DeepEqual(got.EnabledServices, []string{"orders", "billing"}) {
				t.Fatalf("%s = %+v", get.name, got)
			}
			testenv.SameJSON(t, get.name+" config", got.Config, tn.Config)
			sameTime(t, get.name+" created_at", got.CreatedAt, tn.CreatedAt)
			sameTime(t, get.name+" updated_at", got.UpdatedAt, tn.UpdatedAt)
		}
	})

	t.Run("Defaults", func(t *testing.T) {
		s := open(t)
		tn := &core.Tenant{Name: "bare"}
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetTenant(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		testenv.SameJSON(t, "config", got.Config, json.RawMessage(`{}`))
		if got.EnabledServices == nil || len(got.EnabledServices) != 0 || got.IsActive {
			t.Fatalf("bare tenant = %+v; want no services (not null) and inactive as given", got)
		}
		if tn.EnabledServices == nil || string(tn.Config) != "{}" {
			t.Fatalf("CreateTenant left %+v", tn)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			name string
			err  error
		}{
			{"GetTenant", func() error { _, err := s.GetTenant(ctx, "nope"); return err }()},
			{"GetTenantByName", func() error { _, err := s.GetTenantByName(ctx, "nope"); return err }()},
			{"UpdateTenant", func() error {
				_, err := s.UpdateTenant(ctx, "nope", core.TenantUpdate{DisplayName: ptr("x")})
				return err
			}()},
			{"UpdateTenant without changes", func() error { _, err := s.UpdateTenant(ctx, "nope", core.TenantUpdate{}); return err }()},
			{"DeleteTenant", s.DeleteTenant(ctx, "nope")},
		}
		for _, tc := range tests {
			if !fault.Is(tc.err, fault.NotFound) {
				t.Errorf("%s of an unknown tenant = %v, want not_found", tc.name, tc.err)
			}
		}
	})

	t.Run("DuplicateName", func(t *testing.T) {
		s := open(t)
		mustTenant(t, s, "acme")
		err := s.CreateTenant(ctx, newTenant("acme"))
		if !fault.Is(err, fault.Conflict) || !strings.Contains(fault.Message(err), `"acme"`) {
			t.Fatalf("second tenant named acme = %v (%q), want a conflict naming it", err, fault.Message(err))
		}
		if all, _ := s.ListTenants(ctx); len(all) != 1 {
			t.Fatalf("%d tenants after a rejected duplicate, want 1", len(all))
		}
	})

	t.Run("CaseInsensitiveNames", func(t *testing.T) {
		s := open(t)
		tn := newTenant("ACME")
		if err := s.CreateTenant(ctx, tn); err != nil || tn.Name != "acme" {
			t.Fatalf("CreateTenant(ACME) = %v, name %q; want it stored as acme", err, tn.Name)
		}
		if err := s.CreateTenant(ctx, newTenant("Acme")); !fault.Is(err, fault.Conflict) {
			t.Fatalf("CreateTenant(Acme) beside ACME = %v, want conflict", err)
		}
		for _, name := range []string{"acme", "ACME", "aCmE"} {
			if got, err := s.GetTenantByName(ctx, name); err != nil || got.ID != tn.ID {
				t.Fatalf("GetTenantByName(%s) = %+v, %v", name, got, err)
			}
		}
	})

	t.Run("List", func(t *testing.T) {
		s := open(t)
		if all, err := s.ListTenants(ctx); err != nil || all == nil || len(all) != 0 {
			t.Fatalf("ListTenants of an empty store = %v, %v; want an empty list", all, err)
		}
		c, a, b := mustTenant(t, s, "charlie"), mustTenant(t, s, "alpha"), mustTenant(t, s, "bravo")
		z := mustTenant(t, s, "Zulu")
		all, err := s.ListTenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tenantIDs(all), []string{a.ID, b.ID, c.ID, z.ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("ListTenants = %v, want %v (by name, stored lower-case)", got, want)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			name  string
			u     core.TenantUpdate
			check func(t *testing.T, got *core.Tenant)
		}{
			{"display name", core.TenantUpdate{DisplayName: ptr("ACME Corp")}, func(t *testing.T, got *core.Tenant) {
				if got.DisplayName != "ACME Corp" {
					t.Fatalf("display_name = %q", got.DisplayName)
				}
			}},
			{"config", core.TenantUpdate{Config: ptr(json.RawMessage(`{"limits":{"rps":1.50}}`))}, func(t *testing.T, got *core.Tenant) {
				testenv.SameJSON(t, "config", got.Config, json.RawMessage(`{"limits":{"rps":1.50}}`))
			}},
			{"null config", core.TenantUpdate{Config: ptr(json.RawMessage(`null`))}, func(t *testing.T, got *core.Tenant) {
				testenv.SameJSON(t, "config", got.Config, json.RawMessage(`{}`))
			}},
			{"enabled services", core.TenantUpdate{EnabledServices: ptr([]string{"a", "b"})}, func(t *testing.T, got *core.Tenant) {
				if !reflect.DeepEqual(got.EnabledServices, []string{"a", "b"}) {
					t.Fatalf("enabled_services = %v", got.EnabledServices)
				}
			}},
			{"no services", core.TenantUpdate{EnabledServices: ptr([]string(nil))}, func(t *testing.T, got *core.Tenant) {
				if got.EnabledServices == nil || len(got.EnabledServices) != 0 {
					t.Fatalf("enabled_services = %#v, want empty", got.EnabledServices)
				}
			}},
			{"deactivate", core.TenantUpdate{IsActive: ptr(false)}, func(t *testing.T, got *core.Tenant) {
				if got.IsActive {
					t.Fatal("still active")
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tn := mustTenant(t, s, strings.ReplaceAll(tc.name, " ", "-"))
				tick(t, tn.UpdatedAt)
				got, err := s.UpdateTenant(ctx, tn.ID, tc.u)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, got)
				if got.UpdatedAt.Location() != time.UTC || !got.UpdatedAt.After(tn.UpdatedAt) || !got.CreatedAt.Equal(tn.CreatedAt) {
					t.Fatalf("timestamps after update: created %v updated %v; before: %v", got.CreatedAt, got.UpdatedAt, tn.UpdatedAt)
				}
				again, err := s.GetTenant(ctx, tn.ID)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, again)
				if again.Name != tn.Name {
					t.Fatalf("name changed to %q", again.Name)
				}
			})
		}
		t.Run("nothing", func(t *testing.T) {
			tn := mustTenant(t, s, "unchanged")
			got, err := s.UpdateTenant(ctx, tn.ID, core.TenantUpdate{})
			if err != nil || !got.UpdatedAt.Equal(tn.UpdatedAt) || got.DisplayName != tn.DisplayName {
				t.Fatalf("empty update = %+v, %v", got, err)
			}
		})
	})

	t.Run("BadInputLeavesNothing", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			name   string
			mutate func(*core.Tenant)
			field  string
		}{
			{"no name", func(tn *core.Tenant) { tn.Name = "" }, "name"},
			{"padded name", func(tn *core.Tenant) { tn.Name = " acme" }, "name"},
			{"control character in name", func(tn *core.Tenant) { tn.Name = "ac\x00me" }, "name"},
			{"fullwidth letter in name", func(tn *core.Tenant) { tn.Name = "\uff41cme" }, "name"},
			{"space in name", func(tn *core.Tenant) { tn.Name = "ac me" }, "name"},
			{"control character in display name", func(tn *core.Tenant) { tn.DisplayName = "a\nb" }, "display_name"},
			{"malformed config", func(tn *core.Tenant) { tn.Config = json.RawMessage(`{"a":`) }, "config"},
			{"config not an object", func(tn *core.Tenant) { tn.Config = json.RawMessage(`[1,2]`) }, "config"},
			{"config a string", func(tn *core.Tenant) { tn.Config = json.RawMessage(`"{}"`) }, "config"},
			{"config with trailing data", func(tn *core.Tenant) { tn.Config = json.RawMessage(`{} {}`) }, "config"},
			{"config with NUL escape", func(tn *core.Tenant) { tn.Config = json.RawMessage(`{"a":"x\u0000"}`) }, "config"},
			{"config with NUL escape in a key", func(tn *core.Tenant) { tn.Config = json.RawMessage(`{"\u0000":1}`) }, "config"},
			{"config with lone surrogate", func(tn *core.Tenant) { tn.Config = json.RawMessage(`{"a":"\ud83d"}`) }, "config"},
			{"config with reversed surrogates", func(tn *core.Tenant) { tn.Config = json.RawMessage(`{"a":"\ude00\ud83d"}`) }, "config"},
			{"config not UTF-8", func(tn *core.Tenant) { tn.Config = json.RawMessage("{\"a\":\"\xff\"}") }, "config"},
			{"empty service name", func(tn *core.Tenant) { tn.EnabledServices = []string{"a", ""} }, "enabled_services[1]"},
			{"service listed twice", func(tn *core.Tenant) { tn.EnabledServices = []string{"a", "a"} }, "enabled_services[1]"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tn := newTenant("bad")
				tc.mutate(tn)
				err := s.CreateTenant(ctx, tn)
				if !fault.Is(err, fault.Invalid) || fault.Fields(err)[tc.field] == "" {
					t.Fatalf("CreateTenant = %v (fields %v), want invalid naming %s", err, fault.Fields(err), tc.field)
				}
			})
		}
		if all, _ := s.ListTenants(ctx); len(all) != 0 {
			t.Fatalf("rejected tenants left %d rows", len(all))
		}
	})

	t.Run("BadUpdateLeavesTenantAsIs", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		tests := []struct {
			name  string
			u     core.TenantUpdate
			field string
		}{
			{"malformed config", core.TenantUpdate{DisplayName: ptr("new"), Config: ptr(json.RawMessage(`{"a":1,}`))}, "config"},
			{"config not an object", core.TenantUpdate{DisplayName: ptr("new"), Config: ptr(json.RawMessage(`42`))}, "config"},
			{"config with NUL escape", core.TenantUpdate{DisplayName: ptr("new"), Config: ptr(json.RawMessage(`{"a":"\u0000"}`))}, "config"},
			{"service listed twice", core.TenantUpdate{DisplayName: ptr("new"), EnabledServices: ptr([]string{"x", "x"})}, "enabled_services[1]"},
			{"control character in display name", core.TenantUpdate{DisplayName: ptr("new\t")}, "display_name"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.UpdateTenant(ctx, tn.ID, tc.u)
				if !fault.Is(err, fault.Invalid) || fault.Fields(err)[tc.field] == "" {
					t.Fatalf("UpdateTenant = %v (fields %v), want invalid naming %s", err, fault.Fields(err), tc.field)
				}
			})
		}
		got, err := s.GetTenant(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.DisplayName != tn.DisplayName || !got.UpdatedAt.Equal(tn.UpdatedAt) {
			t.Fatalf("rejected updates changed the tenant: %+v", got)
		}
		testenv.SameJSON(t, "config", got.Config, tn.Config)
	})

	t.Run("DeleteWithUsersConflicts", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		u := mustUser(t, s, tn.ID, "alice")
		k := mustKey(t, s, newKey(tn.ID, "ci"))
		if err := s.DeleteTenant(ctx, tn.ID); !fault.Is(err, fault.Conflict) {
			t.Fatalf("DeleteTenant with a user = %v, want conflict", err)
		}
		if _, err := s.GetTenant(ctx, tn.ID); err != nil {
			t.Fatalf("tenant gone after a refused delete: %v", err)
		}
		if _, err := s.GetAPIKey(ctx, k.ID); err != nil {
			t.Fatalf("API key gone after a refused delete: %v", err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTenant(ctx, tn.ID); err != nil {
			t.Fatalf("DeleteTenant without users = %v", err)
		}
		if _, err := s.GetTenant(ctx, tn.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("GetTenant after delete = %v", err)
		}
		if _, err := s.GetAPIKey(ctx, k.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("GetAPIKey after its tenant was deleted = %v, want not_found", err)
		}
		if err := s.DeleteTenant(ctx, tn.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("second DeleteTenant = %v", err)
		}
	})
}

// testSetTenantService enables services from two goroutines at once: every
// one lands (no lost update), and disabling removes just one.
func testSetTenantService(t *testing.T, open func(t *testing.T) core.Store) {
	s := open(t)
	tn := mustTenant(t, s, "acme") // starts with "orders"
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.SetTenantService(ctx, tn.ID, fmt.Sprintf("svc-%d", i), true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.GetTenant(ctx, tn.ID)
	if err != nil || len(got.EnabledServices) != 9 {
		t.Fatalf("after 8 concurrent enables: %v, %v", got.EnabledServices, err)
	}
	got, err = s.SetTenantService(ctx, tn.ID, "orders", false)
	if err != nil || slices.Contains(got.EnabledServices, "orders") || len(got.EnabledServices) != 8 {
		t.Fatalf("disable orders: %v, %v", got.EnabledServices, err)
	}
	if again, _ := s.SetTenantService(ctx, tn.ID, "svc-1", true); len(again.EnabledServices) != 8 {
		t.Fatalf("enabling twice duplicated: %v", again.EnabledServices)
	}
	if _, err := s.SetTenantService(ctx, "nope", "x", true); !fault.Is(err, fault.NotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
}
