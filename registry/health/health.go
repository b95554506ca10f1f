// Package health keeps the registry's instances true. Heartbeats go to the
// ephemeral store (Redis when configured), never straight to the database.
// On the one replica that holds a short lease, a Sweeper then flushes them
// to the database now and then, expires the instances that stopped sending
// them, probes every health_check_url and prunes the event log.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/registry"
)

// Beats records heartbeats in the ephemeral store, one key per instance.
// Concurrent Records are group-committed: while one batch is being written
// (one pipelined round trip to Redis), the next fills up, so a busy
// registry spends one round trip per batch instead of one per heartbeat.
// Record still returns only once its heartbeat is stored.
type Beats struct {
	kv  ephemeral.KV
	ttl time.Duration

	mu       sync.Mutex
	next     *beatBatch // filling up
	flushing bool
}

type beatBatch struct {
	values map[string][]byte
	done   chan struct{}
	err    error
}

// NewBeats returns a recorder whose entries live ttl (longer than the
// inactivity limit, so the sweeper always sees the last one).
func NewBeats(kv ephemeral.KV, ttl time.Duration) *Beats { return &Beats{kv: kv, ttl: ttl} }

func beatKey(id string) string { return "hb:" + id }

// Record notes a heartbeat of instance id at t.
func (b *Beats) Record(ctx context.Context, id string, t time.Time) error {
	b.mu.Lock()
	if b.next == nil {
		b.next = &beatBatch{values: map[string][]byte{}, done: make(chan struct{})}
	}
	batch := b.next
	batch.values[beatKey(id)] = strconv.AppendInt(nil, t.UnixMicro(), 10)
	if !b.flushing {
		b.flushing = true
		go b.flush()
	}
	b.mu.Unlock()
	select {
	case <-batch.done:
		if batch.err != nil {
			return fmt.Errorf("record heartbeat: %w", batch.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush writes batches until none is waiting.
func (b *Beats) flush() {
	for {
		b.mu.Lock()
		batch := b.next
		b.next = nil
		if batch == nil {
			b.flushing = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		batch.err = b.kv.SetMany(ctx, batch.values, b.ttl)
		cancel()
		close(batch.done)
	}
}

// Latest returns the last recorded heartbeat of each of ids that has one.
func (b *Beats) Latest(ctx context.Context, ids []string) (map[string]time.Time, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = beatKey(id)
	}
	vals, err := b.kv.GetMany(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	out := make(map[string]time.Time, len(ids))
	for i, v := range vals {
		if us, err := strconv.ParseInt(string(v), 10, 64); v != nil && err == nil {
			out[ids[i]] = time.UnixMicro(us).UTC()
		}
	}
	return out, nil
}

// Store is the part of the registry store the sweeper uses.
type Store interface {
	List(ctx context.Context, f registry.Filter) ([]*registry.Instance, error)
	RecordHeartbeats(ctx context.Context, beats map[string]time.Time) error
	Expire(ctx context.Context, cutoff time.Time) ([]registry.Event, error)
	SetHealth(ctx context.Context, id string, h registry.Health) (registry.Event, bool, error)
	PruneEvents(ctx context.Context, keep int) error
}

// Publisher hands committed events to the change feed.
type Publisher interface {
	Publish(ctx context.Context, ev registry.Event)
}

// Options tune a Sweeper. Zero fields take the defaults in brackets.
type Options struct {
	Owner         string        // this replica's lease owner ID (required)
	InactiveAfter time.Duration // expire instances silent this long [5m]
	SweepEvery    time.Duration // flush heartbeats and expire this often [5s]
	ProbeEvery    time.Duration // probe each health_check_url this often [5s]
	ProbeTimeout  time.Duration // give up on a probe after this [2s]
	FailAfter     int           // consecutive failed probes that make an instance unhealthy [2]
	KeepEvents    int           // events kept in the log [10000]
	Client        *http.Client  // for probes [a client with ProbeTimeout]
}

// leaseKey is the ephemeral key of the sweeper lease.
const leaseKey = "sweeper-lease"

// Sweeper runs the registry's background duties on the lease holder.
type Sweeper struct {
	store  Store
	beats  *Beats
	pub    Publisher
	lock   ephemeral.Locker
	logger *slog.Logger
	opt    Options
	now    func() time.Time

	mu        sync.Mutex
	lastSweep time.Time
	probes    map[string]*probeState
}

type probeState struct {
	last     time.Time
	fails    int
	inflight bool
}

// NewSweeper returns a sweeper; call Run.
func NewSweeper(store Store, beats *Beats, pub Publisher, lock ephemeral.Locker, logger *slog.Logger, opt Options) *Sweeper {
	if opt.InactiveAfter <= 0 {
		opt.InactiveAfter = 5 * time.Minute
	}
	if opt.SweepEvery <= 0 {
		opt.SweepEvery = 5 * time.Second
	}
	if opt.ProbeEvery <= 0 {
		opt.ProbeEvery = 5 * time.Second
	}
	if opt.ProbeTimeout <= 0 {
		opt.ProbeTimeout = 2 * time.Second
	}
	if opt.FailAfter <= 0 {
		opt.FailAfter = 2
	}
	if opt.KeepEvents <= 0 {
		opt.KeepEvents = 10000
	}
	if opt.Client == nil {
		opt.Client = &http.Client{
			Timeout: opt.ProbeTimeout,
			// A probe checks the instance itself: never follow it elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Sweeper{store: store, beats: beats, pub: pub, lock: lock, logger: logger, opt: opt,
		now: time.Now, probes: map[string]*probeState{}}
}

// tick is how often the sweeper wakes up: the finer of its two periods.
func (s *Sweeper) tick() time.Duration {
	return max(min(s.opt.SweepEvery, s.opt.ProbeEvery, time.Second), 50*time.Millisecond)
}

// Run works until ctx is done, releasing the lease on the way out.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.tick())
	defer t.Stop()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = s.lock.Release(rctx, leaseKey, s.opt.Owner)
	}()
	for {
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("registry sweep failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step does one round of work if this replica holds (or wins) the lease.
func (s *Sweeper) Step(ctx context.Context) error {
	leader, err := s.lock.Claim(ctx, leaseKey, s.opt.Owner, max(3*s.tick(), 5*time.Second))
	if err != nil {
		return fmt.Errorf("claim sweeper lease: %w", err)
	}
	if !leader {
		return nil
	}
	list, err := s.store.List(ctx, registry.Filter{})
	if err != nil {
		return err
	}
	s.startProbes(ctx, list)
	now := s.now()
	s.mu.Lock()
	due := now.Sub(s.lastSweep) >= s.opt.SweepEvery
	if due {
		s.lastSweep = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	return s.sweep(ctx, list, now)
}

// sweep flushes newer heartbeats to the store, then expires the silent.
func (s *Sweeper) sweep(ctx context.Context, list []*registry.Instance, now time.Time) error {
	ids := make([]string, len(list))
	for i, in := range list {
		ids[i] = in.ID
	}
	latest, err := s.beats.Latest(ctx, ids)
	if err != nil {
		return err
	}
	newer := map[string]time.Time{}
	for _, in := range list {
		if t, ok := latest[in.ID]; ok && t.After(in.LastHeartbeat) {
			newer[in.ID] = t
		}
	}
	if err := s.store.RecordHeartbeats(ctx, newer); err != nil {
		return err
	}
	events, err := s.store.Expire(ctx, now.Add(-s.opt.InactiveAfter))
	if err != nil {
		return err
	}
	for _, ev := range events {
		s.logger.Info("instance expired", slog.String("id", ev.Instance.ID), slog.String("name", ev.Instance.Name))
		s.pub.Publish(ctx, ev)
	}
	return s.store.PruneEvents(ctx, s.opt.KeepEvents)
}

// startProbes starts a probe for every instance whose probe is due.
func (s *Sweeper) startProbes(ctx context.Context, list []*registry.Instance) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	live := make(map[string]bool, len(list))
	for _, in := range list {
		live[in.ID] = true
		if in.HealthCheckURL == "" {
			continue
		}
		st := s.probes[in.ID]
		if st == nil {
			st = &probeState{}
			s.probes[in.ID] = st
		}
		if st.inflight || now.Sub(st.last) < s.opt.ProbeEvery {
			continue
		}
		st.inflight, st.last = true, now
		go s.probe(ctx, in, st)
	}
	for id, st := range s.probes {
		if !live[id] && !st.inflight {
			delete(s.probes, id)
		}
	}
}

// probe checks one instance and records a changed verdict.
func (s *Sweeper) probe(ctx context.Context, in *registry.Instance, st *probeState) {
	err := s.check(ctx, ProbeURL(in))
	s.mu.Lock()
	st.inflight = false
	verdict := registry.Health("")
	if err == nil {
		st.fails = 0
		verdict = registry.HealthHealthy
	} else {
		st.fails++
		if st.fails >= s.opt.FailAfter {
			verdict = registry.HealthUnhealthy
		}
	}
	s.mu.Unlock()
	if verdict == "" || verdict == in.Health || ctx.Err() != nil {
		return
	}
	ev, changed, serr := s.store.SetHealth(ctx, in.ID, verdict)
	if serr != nil {
		s.logger.Warn("could not record a health check", slog.String("id", in.ID), slog.Any("error", serr))
		return
	}
	if changed {
		s.logger.Info("instance health changed", slog.String("id", in.ID), slog.String("name", in.Name),
			slog.String("health", string(verdict)), slog.Any("probe_error", err))
		s.pub.Publish(ctx, ev)
	}
}

func (s *Sweeper) check(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, s.opt.ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "plugboard-registry-health-check")
	resp, err := s.opt.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New(resp.Status)
	}
	return nil
}

// ProbeURL is the URL the registry probes for in: its health_check_url, with
// a path-only value taken relative to the instance's address.
func ProbeURL(in *registry.Instance) string {
	u := in.HealthCheckURL
	if len(u) > 0 && u[0] == '/' {
		return "http://" + net.JoinHostPort(in.Host, strconv.Itoa(in.Port)) + u
	}
	return u
}
