package health_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/health"
	"github.com/plugboard/plugboard/registry/sqlstore"
)

func TestProbeURL(t *testing.T) {
	for _, tc := range []struct {
		in   registry.Instance
		want string
	}{
		{registry.Instance{Host: "10.0.0.1", Port: 8000, HealthCheckURL: "/health"}, "http://10.0.0.1:8000/health"},
		{registry.Instance{Host: "fd00::1", Port: 80, HealthCheckURL: "/h"}, "http://[fd00::1]:80/h"},
		{registry.Instance{Host: "a", Port: 1, HealthCheckURL: "https://a.example/healthz"}, "https://a.example/healthz"},
	} {
		if got := health.ProbeURL(&tc.in); got != tc.want {
			t.Errorf("ProbeURL(%+v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestBeatsRoundTrip(t *testing.T) {
	kv := ephemeral.NewMemory()
	defer kv.Close()
	b := health.NewBeats(kv, time.Minute)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := b.Record(context.Background(), "a", at); err != nil {
		t.Fatal(err)
	}
	got, err := b.Latest(context.Background(), []string{"a", "b"})
	if err != nil || len(got) != 1 || !got["a"].Equal(at) {
		t.Fatalf("Latest = %v, %v", got, err)
	}
}

// countingStore counts the sweeps that reach the store.
type countingStore struct {
	health.Store
	sweeps atomic.Int32
}

func (c *countingStore) Expire(ctx context.Context, cutoff time.Time) ([]registry.Event, error) {
	c.sweeps.Add(1)
	return c.Store.Expire(ctx, cutoff)
}

type discard struct{}

func (discard) Publish(context.Context, registry.Event) {}

func TestOnlyTheLeaseHolderSweeps(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := sqlstore.Open(ctx, storage.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "r.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	state := ephemeral.NewMemory() // shared by both "replicas"
	defer state.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	beats := health.NewBeats(state, time.Minute)
	a, b := &countingStore{Store: store}, &countingStore{Store: store}
	opt := func(owner string) health.Options {
		return health.Options{Owner: owner, SweepEvery: 10 * time.Millisecond, ProbeEvery: 10 * time.Millisecond}
	}
	sa := health.NewSweeper(a, beats, discard{}, state, logger, opt("a"))
	sb := health.NewSweeper(b, beats, discard{}, state, logger, opt("b"))
	actx, stopA := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sa.Run(actx); close(done) }()
	testenv.Eventually(t, 5*time.Second, func() bool { return a.sweeps.Load() > 0 }, "a never swept")
	go sb.Run(ctx)
	// b gets as many chances as a sweeps 20 more times: a condition, not a
	// guess at how long that takes on a loaded machine.
	seen := a.sweeps.Load()
	testenv.Eventually(t, 10*time.Second, func() bool { return a.sweeps.Load() >= seen+20 }, "a stopped sweeping")
	if b.sweeps.Load() != 0 {
		t.Fatalf("while a holds the lease: a swept %d times, b %d", a.sweeps.Load(), b.sweeps.Load())
	}
	stopA() // a leaves and releases the lease; b takes over
	<-done
	testenv.Eventually(t, 5*time.Second, func() bool { return b.sweeps.Load() > 0 }, "b never took over the lease")
}
