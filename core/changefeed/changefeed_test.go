package changefeed

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/testenv"
)

// memLog is a change log in memory, as the store keeps it.
type memLog struct {
	mu     sync.Mutex
	events []corefeed.Event
}

func (l *memLog) add(n int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		l.events = append(l.events, corefeed.Event{Revision: int64(len(l.events) + 1), Kind: corefeed.SigningKeys})
	}
	return int64(len(l.events))
}

func (l *memLog) ChangeRevision(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.events)), nil
}

func (l *memLog) ChangesAfter(_ context.Context, after int64, limit int) ([]corefeed.Event, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := min(int64(len(l.events)), after+int64(limit))
	return append([]corefeed.Event(nil), l.events[after:end]...), true, nil
}

func start(t *testing.T, src Source, ps ephemeral.PubSub, poll time.Duration) *Hub {
	t.Helper()
	h := New(src, ps, slog.New(slog.NewTextHandler(io.Discard, nil)), poll)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-h.Ready()
	return h
}

// TestNotifyReachesEveryReplica: a change notified on one hub reaches the
// subscribers of another sharing the pub/sub, long before the poll, in
// revision order and without a gap, pages included.
func TestNotifyReachesEveryReplica(t *testing.T) {
	src := &memLog{}
	src.add(3)
	ps := ephemeral.NewMemory()
	t.Cleanup(func() { ps.Close() })
	a, b := start(t, src, ps, time.Hour), start(t, src, ps, time.Hour)
	sub, last := b.Subscribe()
	defer sub.Close()
	if last != 3 {
		t.Fatalf("starting revision %d, want 3", last)
	}
	a.Notify(src.add(page + 10))
	for want := int64(4); want <= 3+page+10; want++ {
		select {
		case ev := <-sub.Events():
			if ev.Revision != want {
				t.Fatalf("revision %d, want %d", ev.Revision, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("revision %d did not arrive", want)
		}
	}
}

// TestPollCatchesUp: with no notification at all (pub/sub lost it), the
// poll delivers.
func TestPollCatchesUp(t *testing.T) {
	src := &memLog{}
	ps := ephemeral.NewMemory()
	t.Cleanup(func() { ps.Close() })
	h := start(t, src, ps, 10*time.Millisecond)
	sub, _ := h.Subscribe()
	defer sub.Close()
	src.add(2)
	for want := int64(1); want <= 2; want++ {
		if ev := <-sub.Events(); ev.Revision != want {
			t.Fatalf("revision %d, want %d", ev.Revision, want)
		}
	}
}

// TestSlowSubscriberIsCutOff: a subscriber that does not read is cut off
// (its channel closes after what it could hold) rather than skipped over;
// the others go on.
func TestSlowSubscriberIsCutOff(t *testing.T) {
	src := &memLog{}
	ps := ephemeral.NewMemory()
	t.Cleanup(func() { ps.Close() })
	h := start(t, src, ps, time.Hour)
	slow, _ := h.Subscribe()
	fast, _ := h.Subscribe()
	defer fast.Close()
	got := make(chan int64, 1)
	go func() {
		var last int64
		for ev := range fast.Events() {
			last = ev.Revision
			if last == subscriberBuffer+1 {
				break
			}
		}
		got <- last
	}()
	h.Notify(src.add(subscriberBuffer + 1))
	if last := <-got; last != subscriberBuffer+1 {
		t.Fatalf("fast subscriber reached %d", last)
	}
	n := int64(0)
	for ev := range slow.Events() {
		n++
		if ev.Revision != n {
			t.Fatalf("slow subscriber: revision %d, want %d", ev.Revision, n)
		}
	}
	if n != subscriberBuffer {
		t.Fatalf("slow subscriber got %d before the cut, want %d", n, subscriberBuffer)
	}
	h.Shutdown()
	testenv.Eventually(t, time.Second, func() bool { _, ok := <-fast.Events(); return !ok }, "shutdown did not end a subscription")
}
