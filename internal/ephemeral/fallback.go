package ephemeral

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// Counting is the part of a Store that counters and small values need: what
// login throttling and rate limits keep.
type Counting interface {
	KV
	Counter
}

// Fallback serves KV and Counter calls from a shared store (Redis) and, for
// each call the shared store fails, from an in-process Memory of this
// replica instead. A limit kept in it therefore never fails open while Redis
// is down: it holds per replica (N replicas admit up to N times the limit)
// until Redis answers again, when the shared counts take over and what the
// replica counted meanwhile is forgotten. While the shared store is down,
// calls go straight to the local one and the shared store is probed again
// at most once per ProbeInterval, so that an outage does not add a
// connection timeout to every call. The switch both ways is logged once. A
// Get that finds no key (ErrNotFound) is an answer, not a failure.
type Fallback struct {
	shared Counting
	local  *Memory
	logger *slog.Logger
	down   atomic.Bool
	probe  atomic.Int64 // unix nanos of the last call that tried the shared store while down
	now    func() time.Time
}

// ProbeInterval is how often a Fallback whose shared store failed tries it
// again.
const ProbeInterval = time.Second

// NewFallback returns a Fallback over shared. Close the returned value's
// local store with Close.
func NewFallback(shared Counting, logger *slog.Logger) *Fallback {
	return &Fallback{shared: shared, local: NewMemory(), logger: logger, now: time.Now}
}

// Close releases the in-process store (not the shared one).
func (f *Fallback) Close() error { return f.local.Close() }

// skip reports whether a call should go straight to the local store: the
// shared one is down and was probed less than ProbeInterval ago.
func (f *Fallback) skip() bool {
	if !f.down.Load() {
		return false
	}
	now, last := f.now().UnixNano(), f.probe.Load()
	return now-last < int64(ProbeInterval) || !f.probe.CompareAndSwap(last, now)
}

// failed reports whether err is a failure of the shared store, and logs the
// switch to the local one.
func (f *Fallback) failed(err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) {
		if f.down.CompareAndSwap(true, false) {
			f.logger.Info("the shared ephemeral store answers again; per-replica fallback ends")
		}
		return false
	}
	f.probe.Store(f.now().UnixNano())
	if f.down.CompareAndSwap(false, true) {
		f.logger.Warn("the shared ephemeral store failed; counting per replica until it answers", slog.Any("error", err))
	}
	return true
}

// Get implements KV.
func (f *Fallback) Get(ctx context.Context, key string) ([]byte, error) {
	if !f.skip() {
		if v, err := f.shared.Get(ctx, key); !f.failed(err) {
			return v, err
		}
	}
	return f.local.Get(ctx, key)
}

// GetMany implements KV.
func (f *Fallback) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if !f.skip() {
		if v, err := f.shared.GetMany(ctx, keys); !f.failed(err) {
			return v, err
		}
	}
	return f.local.GetMany(ctx, keys)
}

// Set implements KV.
func (f *Fallback) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if !f.skip() {
		if err := f.shared.Set(ctx, key, value, ttl); !f.failed(err) {
			return err
		}
	}
	return f.local.Set(ctx, key, value, ttl)
}

// SetMany implements KV.
func (f *Fallback) SetMany(ctx context.Context, values map[string][]byte, ttl time.Duration) error {
	if !f.skip() {
		if err := f.shared.SetMany(ctx, values, ttl); !f.failed(err) {
			return err
		}
	}
	return f.local.SetMany(ctx, values, ttl)
}

// SetNX implements KV.
func (f *Fallback) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if !f.skip() {
		if ok, err := f.shared.SetNX(ctx, key, value, ttl); !f.failed(err) {
			return ok, err
		}
	}
	return f.local.SetNX(ctx, key, value, ttl)
}

// Delete implements KV. It deletes locally too, so that what the replica
// counted during an outage cannot outlive a success recorded after it.
func (f *Fallback) Delete(ctx context.Context, key string) error {
	_ = f.local.Delete(ctx, key)
	if !f.skip() {
		if err := f.shared.Delete(ctx, key); !f.failed(err) {
			return err
		}
	}
	return nil
}

// Incr implements Counter.
func (f *Fallback) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if !f.skip() {
		if n, err := f.shared.Incr(ctx, key, window); !f.failed(err) {
			return n, err
		}
	}
	return f.local.Incr(ctx, key, window)
}

var (
	_ KV      = (*Fallback)(nil)
	_ Counter = (*Fallback)(nil)
)
