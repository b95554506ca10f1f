// Package feed fans the registry's change events out to the watchers of one
// replica, in revision order and without gaps.
//
// Events reach a Hub three ways: from this replica's writers (Publish, which
// also sends them to every other replica over the ephemeral pub/sub), from
// the pub/sub (other replicas' writes), and from a periodic read of the
// store's event log, the safety net for pub/sub messages that were lost. The
// hub delivers revision N+1 only after N; when it sees a jump it reads the
// missing events from the store first. A watcher that cannot keep up is cut
// off rather than skipped over, so that it reconnects and resumes from its
// last revision: nobody ever misses an event silently.
package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fanout"
	"github.com/plugboard/plugboard/registry"
)

// Channel is the pub/sub channel the registry's events travel on.
const Channel = "events"

// subscriberBuffer is how many events a watcher may lag behind before it is
// cut off.
const subscriberBuffer = 512

// Source is the part of the store the hub reads.
type Source interface {
	Revision(ctx context.Context) (int64, error)
	EventsAfter(ctx context.Context, after int64, limit int) ([]registry.Event, bool, error)
	List(ctx context.Context, f registry.Filter) ([]*registry.Instance, error)
}

// Hub is one replica's event fan-out. Start it with Run.
type Hub struct {
	src    Source
	ps     ephemeral.PubSub
	logger *slog.Logger
	poll   time.Duration
	local  chan registry.Event

	mu     sync.Mutex
	last   int64
	active map[string]bool // IDs of active instances, as of last (and ahead)
	// ahead holds, per instance, the revision of an event this replica
	// committed and Publish applied to active before its turn came in
	// revision order: older events delivered after it must not undo it.
	ahead map[string]int64
	subs  *fanout.Set[registry.Event]
	ready chan struct{}
}

// New returns a hub reading src and ps that also polls src every poll.
func New(src Source, ps ephemeral.PubSub, logger *slog.Logger, poll time.Duration) *Hub {
	if poll <= 0 {
		poll = time.Second
	}
	h := &Hub{
		src: src, ps: ps, logger: logger, poll: poll,
		local:  make(chan registry.Event, 1024),
		active: map[string]bool{},
		ahead:  map[string]int64{},
		ready:  make(chan struct{}),
	}
	h.subs = fanout.New[registry.Event](&h.mu, subscriberBuffer)
	return h
}

// Run loads the current revision and active instances, then delivers events
// until ctx is done. It returns an error only if it cannot start.
func (h *Hub) Run(ctx context.Context) error {
	sub, err := h.ps.Subscribe(ctx, Channel)
	if err != nil {
		return fmt.Errorf("subscribe to registry events: %w", err)
	}
	defer sub.Close()
	rev, err := h.src.Revision(ctx)
	if err != nil {
		return fmt.Errorf("read registry revision: %w", err)
	}
	list, err := h.src.List(ctx, registry.Filter{})
	if err != nil {
		return fmt.Errorf("list active instances: %w", err)
	}
	h.mu.Lock()
	h.load(rev, list)
	h.mu.Unlock()
	close(h.ready)
	// Events committed between the revision read and the list are caught up
	// at once; applying an event twice to the active set is harmless.
	h.catchUp(ctx)

	ticker := time.NewTicker(h.poll)
	defer ticker.Stop()
	msgs := sub.Messages()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-h.local:
			h.accept(ctx, ev)
		case payload, ok := <-msgs:
			if !ok {
				// The subscription ended (store closed): keep polling.
				msgs = nil
				continue
			}
			var ev registry.Event
			if err := json.Unmarshal(payload, &ev); err != nil || ev.Instance == nil {
				h.logger.Warn("ignoring a malformed registry event", slog.Any("error", err))
				continue
			}
			h.accept(ctx, ev)
		case <-ticker.C:
			h.catchUp(ctx)
		}
	}
}

// Ready is closed once Run has loaded its starting point.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Publish hands an event this replica committed to the local watchers and
// to every other replica. Call it after the commit, in any goroutine.
//
// The event's effect on IsActive is applied at once, before Publish
// returns, so that a client told its instance was deregistered gets 404
// for its next heartbeat to this replica rather than a 200 from a view
// that has not delivered the event yet. Watchers still receive it in
// revision order.
func (h *Hub) Publish(ctx context.Context, ev registry.Event) {
	if ev.Instance != nil {
		h.mu.Lock()
		if ev.Revision > h.last && ev.Revision > h.ahead[ev.Instance.ID] {
			h.ahead[ev.Instance.ID] = ev.Revision
			h.setActive(ev.Instance)
		}
		h.mu.Unlock()
	}
	select {
	case h.local <- ev:
	default: // the poll will find it
	}
	body, err := json.Marshal(ev)
	if err == nil {
		err = h.ps.Publish(ctx, Channel, body)
	}
	if err != nil {
		h.logger.Warn("could not publish a registry event; other replicas will read it from the store",
			slog.Int64("revision", ev.Revision), slog.Any("error", err))
	}
}

// accept delivers ev if it is the next revision, catches up from the store
// if revisions are missing, and drops it if it was delivered already.
func (h *Hub) accept(ctx context.Context, ev registry.Event) {
	h.mu.Lock()
	next := h.last + 1
	h.mu.Unlock()
	switch {
	case ev.Revision < next:
		return
	case ev.Revision == next:
		h.deliver(ev)
	default:
		h.catchUp(ctx)
	}
}

// catchUp delivers every stored event after the last delivered one.
func (h *Hub) catchUp(ctx context.Context) {
	for {
		h.mu.Lock()
		last := h.last
		h.mu.Unlock()
		events, complete, err := h.src.EventsAfter(ctx, last, 500)
		if err != nil {
			if ctx.Err() == nil {
				h.logger.Warn("could not read registry events", slog.Any("error", err))
			}
			return
		}
		if !complete {
			h.reset(ctx)
			return
		}
		for _, ev := range events {
			h.deliver(ev)
		}
		if len(events) < 500 {
			return
		}
	}
}

// reset handles a hub that fell so far behind that the events it missed
// were pruned: it reloads its starting point and cuts every watcher off, so
// that each starts over from a snapshot.
func (h *Hub) reset(ctx context.Context) {
	rev, err := h.src.Revision(ctx)
	if err != nil {
		return
	}
	list, err := h.src.List(ctx, registry.Filter{})
	if err != nil {
		return
	}
	h.logger.Warn("registry events were pruned before this replica read them; watchers start over", slog.Int64("revision", rev))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.load(rev, list)
	h.subs.DropAll()
}

func (h *Hub) deliver(ev registry.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Revision != h.last+1 {
		return
	}
	h.last = ev.Revision
	id := ev.Instance.ID
	switch ahead, ok := h.ahead[id]; {
	case !ok:
		h.setActive(ev.Instance)
	case ahead <= ev.Revision:
		delete(h.ahead, id) // in step again
		h.setActive(ev.Instance)
	}
	if h.subs.Send(ev) > 0 {
		h.logger.Info("cut off watchers that fell behind", slog.Int64("revision", ev.Revision))
	}
}

// load makes list, read at revision rev, the active set; h.mu must be
// held. Published events newer than rev stay applied.
func (h *Hub) load(rev int64, list []*registry.Instance) {
	h.last = rev
	active := make(map[string]bool, len(list))
	for _, in := range list {
		active[in.ID] = true
	}
	for id, ahead := range h.ahead {
		switch {
		case ahead <= rev:
			delete(h.ahead, id)
		case h.active[id]:
			active[id] = true
		default:
			delete(active, id)
		}
	}
	h.active = active
}

// setActive records whether in is active; h.mu must be held.
func (h *Hub) setActive(in *registry.Instance) {
	if in.IsActive {
		h.active[in.ID] = true
	} else {
		delete(h.active, in.ID)
	}
}

// IsActive reports whether the instance was active as of the last delivered
// event, or of a later one this replica published. It may lag a write on
// another replica by the feed's latency (a heartbeat there is then
// answered 200 once more and ignored by the store).
func (h *Hub) IsActive(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active[id]
}

// ActiveIDs returns the IDs of the active instances as of the last event.
func (h *Hub) ActiveIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.active))
	for id := range h.active {
		ids = append(ids, id)
	}
	return ids
}

// Sub is one watcher's subscription: its Events deliver the events after
// the subscription started, in revision order, and close when the watcher
// fell behind or the hub shut down (the watcher must then reconnect from
// its last revision).
type Sub = fanout.Sub[registry.Event]

// Subscribe starts a subscription. Every event delivered after it returns
// arrives on the Sub; last is the revision delivered before that.
func (h *Hub) Subscribe() (sub *Sub, last int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs.Subscribe(), h.last
}

// Shutdown ends every subscription (watchers reconnect, to another replica)
// and refuses new ones.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs.Shutdown()
}
