package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// engine decides: in Redis when one is configured and answers, else in
// process. It outlives config reloads (engines, a caddy.UsagePool), so
// that the local buckets survive them.
type engine struct {
	local  *local
	shared *shared // nil: embedded, this gateway only
	logger *slog.Logger
	retry  time.Duration // how long Redis is left alone after a failure

	leaseMu sync.Mutex
	leases  map[string]*lease // by the request's buckets; under leaseMu

	down  atomic.Bool  // the last Redis decision failed
	tried atomic.Int64 // when Redis was last tried while down (unix ns)

	// metrics
	decisions *prometheus.CounterVec
	fallbacks prometheus.Counter
	downGauge prometheus.GaugeFunc
	admitted  [2]prometheus.Counter // by store: 0 local, 1 cluster
	refused   [2]prometheus.Counter
}

// Leases: Redis grants up to maxLease requests at once when a bucket has
// plenty of room; they are spent here within leaseTTL or lost (a lost
// token makes the limit stricter, never looser).
const (
	maxLease = 16
	leaseTTL = 100 * time.Millisecond
)

// lease is requests Redis granted that this gateway has not spent yet.
type lease struct {
	n     int64
	until int64 // unix ns
	v     [maxCells]verdict
}

func newEngine(redisURL, prefix string, timeout, retry time.Duration, maxKeys int, logger *slog.Logger) (*engine, error) {
	e := &engine{local: newLocal(maxKeys), logger: logger, retry: retry, leases: map[string]*lease{}}
	if redisURL != "" {
		s, err := newShared(redisURL, prefix, timeout)
		if err != nil {
			return nil, err
		}
		e.shared = s
	}
	e.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "plugboard", Subsystem: "gateway", Name: "rate_limit_decisions_total",
		Help: "Rate-limit decisions by result (admitted, refused) and store (cluster: Redis; local: this gateway, embedded or while Redis is down).",
	}, []string{"result", "store"})
	e.fallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "plugboard", Subsystem: "gateway", Name: "rate_limit_redis_failures_total",
		Help: "Rate-limit decisions Redis failed to make, which this gateway made on its own count instead.",
	})
	e.downGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "plugboard", Subsystem: "gateway", Name: "rate_limit_local_fallback",
		Help: "1 while Redis is configured but unreachable and each gateway enforces the rate limits alone; else 0.",
	}, func() float64 {
		if e.down.Load() {
			return 1
		}
		return 0
	})
	for i, store := range []string{"local", "cluster"} {
		e.admitted[i] = e.decisions.WithLabelValues("admitted", store)
		e.refused[i] = e.decisions.WithLabelValues("refused", store)
	}
	return e, nil
}

// register adds the engine's metrics to reg (once: a reload finds them).
func (e *engine) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{e.decisions, e.fallbacks, e.downGauge} {
		if err := reg.Register(c); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
			return err
		}
	}
	return nil
}

// decide admits or refuses a request whose limits are cells, filling out.
// With Redis: one round trip, cluster-wide; when it fails, this gateway's
// count (logged once per outage, counted in the metrics), and Redis is
// asked again after e.retry.
func (e *engine) decide(ctx context.Context, now time.Time, cells []cell, out []verdict) bool {
	store := 0
	ok := false
	if e.shared != nil && e.shouldTry(now) {
		if e.spendLease(now, cells, out) {
			e.admitted[1].Inc()
			return true
		}
		granted, err := e.shared.decide(ctx, cells, out, maxLease)
		if err == nil {
			e.redisOK()
			store = 1
			ok = granted > 0
			e.keepLease(now, cells, out, granted)
		} else {
			e.redisFailed(now, err)
		}
	}
	if store == 0 {
		ok = e.local.decide(now.UnixNano(), cells, out)
	}
	if ok {
		e.admitted[store].Inc()
	} else {
		e.refused[store].Inc()
	}
	return ok
}

// leaseKey names the lease of a request's buckets.
func leaseKey(cells []cell) string {
	if len(cells) == 1 {
		return cells[0].bucket
	}
	var b strings.Builder
	for _, c := range cells {
		b.WriteString(c.bucket)
		b.WriteByte(0)
	}
	return b.String()
}

// spendLease admits the request on a lease this gateway holds for its
// buckets, filling out from the lease's verdicts.
func (e *engine) spendLease(now time.Time, cells []cell, out []verdict) bool {
	k := leaseKey(cells)
	e.leaseMu.Lock()
	defer e.leaseMu.Unlock()
	l := e.leases[k]
	if l == nil || l.n <= 0 || now.UnixNano() >= l.until {
		return false
	}
	l.n--
	for i := range cells {
		out[i] = l.v[i]
		out[i].remaining += l.n
	}
	return true
}

// keepLease keeps the granted-1 requests of a Redis grant for the next
// requests to the same buckets.
func (e *engine) keepLease(now time.Time, cells []cell, out []verdict, granted int64) {
	if granted <= 1 {
		return
	}
	k := leaseKey(cells)
	e.leaseMu.Lock()
	defer e.leaseMu.Unlock()
	if len(e.leases) >= e.local.maxKeys {
		for key, l := range e.leases {
			if now.UnixNano() >= l.until || l.n <= 0 {
				delete(e.leases, key)
			}
		}
		if len(e.leases) >= e.local.maxKeys {
			return // full of live leases: ask Redis each time
		}
	}
	l := &lease{n: granted - 1, until: now.Add(leaseTTL).UnixNano()}
	copy(l.v[:], out)
	e.leases[k] = l
}

// shouldTry reports whether to ask Redis now: it is up, or this is the
// first request e.retry after it was last tried (one request probes; the
// others keep the local count meanwhile).
func (e *engine) shouldTry(now time.Time) bool {
	if !e.down.Load() {
		return true
	}
	last := e.tried.Load()
	return now.UnixNano()-last >= int64(e.retry) && e.tried.CompareAndSwap(last, now.UnixNano())
}

func (e *engine) redisFailed(now time.Time, err error) {
	e.fallbacks.Inc()
	e.tried.Store(now.UnixNano())
	if !e.down.Swap(true) {
		e.logger.Warn("Redis is unreachable: each gateway enforces the rate limits on its own count until it answers (a cluster of n gateways admits up to n times a limit)", slog.Any("error", err))
	}
}

func (e *engine) redisOK() {
	if e.down.Swap(false) {
		e.logger.Info("Redis answers again: rate limits are cluster-wide again")
	}
}

// Destruct implements caddy.Destructor: the last config using the engine
// is gone.
func (e *engine) Destruct() error {
	if e.shared != nil {
		return e.shared.close()
	}
	return nil
}
