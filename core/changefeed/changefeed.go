// Package changefeed is core's change hub, one per replica: it fans the
// change feed (internal/corefeed) out to the followers connected to this
// replica — the gateways' GET /api/auth/changes streams — in revision
// order, never skipping an event.
//
// The store appends every change in the transaction that makes it; the
// hub only learns that there is something new to read. After a commit the
// writing replica calls Notify, which wakes its own hub at once and
// publishes the revision on the ephemeral pub/sub (Redis when configured,
// in process otherwise), waking every other replica's hub. A woken hub
// reads the changes after the last one it delivered from the store, so
// that a lost or reordered notification costs nothing but latency; it
// also reads every poll interval (a second), the safety net for
// notifications lost while Redis was away. A follower that cannot keep up
// is cut off rather than skipped over, so that it reconnects and resumes
// from its last revision.
package changefeed

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fanout"
)

// Channel is the pub/sub channel committed revisions are announced on.
const Channel = "core-changes"

// subscriberBuffer is how many events a follower may lag behind before it
// is cut off (internal/fanout).
const subscriberBuffer = 1024

// page is how many events the hub reads from the store at once.
const page = 500

// Source is the part of the store the hub reads.
type Source interface {
	ChangeRevision(ctx context.Context) (int64, error)
	ChangesAfter(ctx context.Context, after int64, limit int) ([]corefeed.Event, bool, error)
}

// Hub is one replica's fan-out of the change feed. Start it with Run.
type Hub struct {
	src    Source
	ps     ephemeral.PubSub
	logger *slog.Logger
	poll   time.Duration

	wake     chan struct{} // this replica committed something
	announce chan struct{} // the publisher has a revision to announce
	pending  atomic.Int64  // the latest revision this replica committed

	mu    sync.Mutex
	last  int64 // the latest revision delivered
	subs  *fanout.Set[corefeed.Event]
	ready chan struct{}
}

// New returns a hub reading src, woken by ps, that also reads src every
// poll (a second when poll <= 0).
func New(src Source, ps ephemeral.PubSub, logger *slog.Logger, poll time.Duration) *Hub {
	if poll <= 0 {
		poll = time.Second
	}
	h := &Hub{src: src, ps: ps, logger: logger, poll: poll,
		wake: make(chan struct{}, 1), announce: make(chan struct{}, 1), ready: make(chan struct{})}
	h.subs = fanout.New[corefeed.Event](&h.mu, subscriberBuffer)
	return h
}

// Notify tells the hub that this replica committed changes up to revision.
// It never blocks: the announcement to the other replicas is sent by Run's
// publisher, coalesced with later ones.
func (h *Hub) Notify(revision int64) {
	for {
		cur := h.pending.Load()
		if revision <= cur || h.pending.CompareAndSwap(cur, revision) {
			break
		}
	}
	signal(h.wake)
	signal(h.announce)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run starts at the store's current revision, then delivers changes until
// ctx is done. It returns an error only if it cannot start.
func (h *Hub) Run(ctx context.Context) error {
	sub, err := h.ps.Subscribe(ctx, Channel)
	if err != nil {
		return err
	}
	defer sub.Close()
	rev, err := h.src.ChangeRevision(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.last = rev
	h.mu.Unlock()
	close(h.ready)
	var publisher sync.WaitGroup
	publisher.Go(func() { h.publish(ctx) })
	defer publisher.Wait()

	ticker := time.NewTicker(h.poll)
	defer ticker.Stop()
	msgs := sub.Messages()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.wake:
		case payload, ok := <-msgs:
			if !ok {
				msgs = nil // the pub/sub ended (store closed): keep polling
				continue
			}
			if n, err := strconv.ParseInt(string(payload), 10, 64); err == nil && n <= h.Last() {
				continue // delivered already
			}
		case <-ticker.C:
		}
		h.catchUp(ctx)
	}
}

// publish announces the revisions this replica commits to every replica,
// until ctx is done.
func (h *Hub) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.announce:
		}
		rev := h.pending.Load()
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := h.ps.Publish(pctx, Channel, strconv.AppendInt(nil, rev, 10))
		cancel()
		if err != nil && ctx.Err() == nil {
			h.logger.Warn("could not announce a core change; other replicas read it within a second",
				slog.Int64("revision", rev), slog.Any("error", err))
		}
	}
}

// Ready is closed once Run has read its starting revision.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Last returns the revision of the latest change delivered.
func (h *Hub) Last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// catchUp delivers every stored change after the last delivered one.
func (h *Hub) catchUp(ctx context.Context) {
	for {
		last := h.Last()
		events, complete, err := h.src.ChangesAfter(ctx, last, page)
		if err != nil {
			if ctx.Err() == nil {
				h.logger.Warn("could not read core changes", slog.Any("error", err))
			}
			return
		}
		if !complete {
			h.restart(ctx)
			return
		}
		h.deliver(events)
		if len(events) < page {
			return
		}
	}
}

// restart handles a hub that fell so far behind that the changes it missed
// were pruned: it starts again at the current revision and cuts every
// follower off (each resumes from its own revision, or starts over).
func (h *Hub) restart(ctx context.Context) {
	rev, err := h.src.ChangeRevision(ctx)
	if err != nil {
		return
	}
	h.logger.Warn("core changes were pruned before this replica read them; followers reconnect", slog.Int64("revision", rev))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = rev
	h.subs.DropAll()
}

// deliver hands events, which follow each other from the last delivered
// one, to every follower.
func (h *Hub) deliver(events []corefeed.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range events {
		if ev.Revision != h.last+1 {
			continue // read twice, by a catch-up that raced this one
		}
		h.last = ev.Revision
		if h.subs.Send(ev) > 0 {
			h.logger.Info("cut off change followers that fell behind", slog.Int64("revision", ev.Revision))
		}
	}
}

// Sub is one follower's subscription: its Events deliver, in revision
// order, every change after the revision Subscribe returned, and close when
// the follower fell behind or the hub shut down (the follower must then
// reconnect and resume).
type Sub = fanout.Sub[corefeed.Event]

// Subscribe starts a subscription; last is the revision delivered before
// it (the store holds every change up to it).
func (h *Hub) Subscribe() (sub *Sub, last int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs.Subscribe(), h.last
}

// Shutdown ends every subscription (followers reconnect, to another
// replica) and refuses new ones.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs.Shutdown()
}

// Pruner is the store a Prune deletes old changes from.
type Pruner interface {
	PruneChanges(ctx context.Context, before time.Time) (int, error)
}

// Prune deletes, every every, the changes older than keep, until ctx is
// done. Every replica may run it; the deletes are harmless twice.
func Prune(ctx context.Context, store Pruner, keep, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := store.PruneChanges(ctx, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
			logger.Warn("could not prune core changes", slog.Any("error", err))
		} else if n > 0 {
			logger.Debug("pruned core changes", slog.Int("changes", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
