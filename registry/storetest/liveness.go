package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/registry"
)

// testLiveness checks heartbeats, expiry and health verdicts.
func testLiveness(t *testing.T, open func(t *testing.T) registry.Store) {
	ctx := context.Background()

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
}
