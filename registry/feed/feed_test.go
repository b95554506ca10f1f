package feed_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/feed"
	"github.com/plugboard/plugboard/registry/sqlstore"
)

func setup(t *testing.T, poll time.Duration) (*sqlstore.Store, *feed.Hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store, err := sqlstore.Open(ctx, storage.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "r.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	state := ephemeral.NewMemory()
	t.Cleanup(func() { state.Close() })
	hub := feed.New(store, state, slog.New(slog.NewTextHandler(io.Discard, nil)), poll)
	go hub.Run(ctx)
	<-hub.Ready()
	return store, hub
}

func register(t *testing.T, s *sqlstore.Store, name string, port int) registry.Event {
	t.Helper()
	ev, err := s.Register(context.Background(), &registry.Instance{Name: name, Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func expect(t *testing.T, sub *feed.Sub, revs ...int64) {
	t.Helper()
	for _, want := range revs {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription closed before revision %d", want)
			}
			if ev.Revision != want {
				t.Fatalf("got revision %d, want %d", ev.Revision, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("revision %d never arrived", want)
		}
	}
}

func TestOutOfOrderPublishIsDeliveredInOrder(t *testing.T) {
	store, hub := setup(t, time.Hour) // no polling: only Publish and catch-up
	sub, last := hub.Subscribe()
	if last != 0 {
		t.Fatalf("last = %d", last)
	}
	e1 := register(t, store, "a", 1)
	e2 := register(t, store, "b", 2)
	hub.Publish(context.Background(), e2) // 2 arrives first: 1 is read from the store
	expect(t, sub, 1, 2)
	hub.Publish(context.Background(), e1) // a late duplicate is dropped
	e3 := register(t, store, "c", 3)
	hub.Publish(context.Background(), e3)
	expect(t, sub, 3)
	if !hub.IsActive(e1.Instance.ID) || len(hub.ActiveIDs()) != 3 {
		t.Fatalf("active view: %v", hub.ActiveIDs())
	}
}

func TestLostMessagesAreFoundByPolling(t *testing.T) {
	store, hub := setup(t, 20*time.Millisecond)
	sub, _ := hub.Subscribe()
	ev := register(t, store, "a", 1) // never published: as if pub/sub lost it
	expect(t, sub, 1)
	if _, err := store.Deregister(context.Background(), ev.Instance.ID); err != nil {
		t.Fatal(err)
	}
	expect(t, sub, 2)
	if hub.IsActive(ev.Instance.ID) {
		t.Fatal("a deregistered instance is still in the active view")
	}
}

func TestSlowWatcherIsCutOffNotSkipped(t *testing.T) {
	store, hub := setup(t, 10*time.Millisecond)
	slow, _ := hub.Subscribe()
	for i := range 600 { // more than a subscription buffers
		register(t, store, "svc", 1000+i)
	}
	got := int64(0)
	for ev := range slow.Events() { // drains what was buffered, then ends
		if ev.Revision != got+1 {
			t.Fatalf("revision %d after %d: a gap", ev.Revision, got)
		}
		got = ev.Revision
	}
	if got >= 600 {
		t.Fatalf("the slow subscription received all %d events; it should have been cut off", got)
	}
}

func TestShutdownEndsSubscriptions(t *testing.T) {
	_, hub := setup(t, time.Hour)
	sub, _ := hub.Subscribe()
	hub.Shutdown()
	if _, ok := <-sub.Events(); ok {
		t.Fatal("subscription open after Shutdown")
	}
	late, _ := hub.Subscribe()
	if _, ok := <-late.Events(); ok {
		t.Fatal("a subscription made after Shutdown is open")
	}
}

// TestPublishedDeregistrationIsSeenAtOnce pins the root of a heartbeat
// race: the API answers a deregistration, the client's next heartbeat
// asks IsActive, and the hub's loop has not delivered the event yet. A
// published event must count before Publish returns, and an older event
// delivered after it must not undo it.
func TestPublishedDeregistrationIsSeenAtOnce(t *testing.T) {
	store, hub := setup(t, time.Hour) // no polling: only Publish and catch-up
	sub, _ := hub.Subscribe()
	reg := register(t, store, "a", 1) // not published: delivered late, by catch-up
	id := reg.Instance.ID
	dereg, err := store.Deregister(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		hub.Publish(context.Background(), dereg)
		if hub.IsActive(id) {
			t.Fatal("IsActive is true right after a deregistration was published")
		}
	}
	expect(t, sub, reg.Revision, dereg.Revision) // registered (active) delivered after
	if hub.IsActive(id) {
		t.Fatal("delivering the older registration reactivated the instance")
	}
	back := register(t, store, "a", 1)
	hub.Publish(context.Background(), back)
	if !hub.IsActive(id) {
		t.Fatal("a published re-registration is not active at once")
	}
	expect(t, sub, back.Revision)
}
