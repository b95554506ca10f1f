package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/registry"
)

// testEvents checks the change feed: revisions, reading and pruning.
func testEvents(t *testing.T, open func(t *testing.T) registry.Store) {
	ctx := context.Background()

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

	t.Run("InstanceEvents", func(t *testing.T) {
		s := open(t)
		a, b := newInstance("orders", 1), newInstance("orders", 2)
		_, _ = s.Register(ctx, a)                                  // 1
		_, _ = s.Register(ctx, b)                                  // 2: another instance
		_, _, _ = s.SetHealth(ctx, a.ID, registry.HealthUnhealthy) // 3
		_, _ = s.Deregister(ctx, a.ID)                             // 4
		evs, err := s.InstanceEvents(ctx, a.ID, 10)
		var got []string
		for _, ev := range evs {
			got = append(got, fmt.Sprintf("%d:%s", ev.Revision, ev.Type))
		}
		if want := []string{"4:deregistered", "3:health", "1:registered"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("InstanceEvents = %v, %v; want %v (newest first, this instance only)", got, err, want)
		}
		if evs[1].Instance.Health != registry.HealthUnhealthy || evs[0].Instance.IsActive || evs[0].At.IsZero() {
			t.Fatalf("events do not carry the state after each change: %+v", evs)
		}
		if evs, _ := s.InstanceEvents(ctx, a.ID, 1); len(evs) != 1 || evs[0].Revision != 4 {
			t.Fatalf("InstanceEvents limit 1 = %+v", evs)
		}
		if _, err := s.InstanceEvents(ctx, "nope", 10); !fault.Is(err, fault.NotFound) {
			t.Fatalf("InstanceEvents of an unknown id = %v, want not_found", err)
		}
		if err := s.PruneEvents(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if evs, err := s.InstanceEvents(ctx, a.ID, 10); err != nil || len(evs) != 2 {
			t.Fatalf("InstanceEvents after pruning = %d events, %v; want the 2 kept", len(evs), err)
		}
		if evs, err := s.InstanceEvents(ctx, b.ID, 10); err != nil || evs == nil || len(evs) != 0 {
			t.Fatalf("InstanceEvents with all pruned = %v, %v; want an empty list", evs, err)
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
}
