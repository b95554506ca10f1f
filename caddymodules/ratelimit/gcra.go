package ratelimit

import (
	"sync"
	"time"
)

// The algorithm is GCRA (the generic cell rate algorithm, the "virtual
// scheduling" form): each bucket keeps one number, its theoretical arrival
// time (TAT). A limit of n per period with burst b emits one request every
// interval = period/n, and a request is admitted when, after it, the TAT
// is at most b intervals ahead of now. It is exact (no window edges), needs
// no timer, and fits in one Redis key per bucket; limitScript is the same
// arithmetic in Lua.

// cell is one limit applied to one request: the bucket it counts in and
// the limit's rate.
type cell struct {
	bucket   string
	interval int64 // nanoseconds per request
	burst    int64
}

// verdict is a cell's outcome.
type verdict struct {
	remaining int64         // requests the bucket would still admit now
	reset     time.Duration // until the bucket is full again
	retry     time.Duration // until a refused request would be admitted; 0 if admitted
}

// gcra decides one cell at now (nanoseconds) for a bucket whose TAT is tat
// (0 for a new bucket): whether it admits, the TAT after admitting, and
// the verdict.
func gcra(now, tat int64, c cell) (ok bool, newTAT int64, v verdict) {
	if tat < now {
		tat = now
	}
	tau := c.interval * c.burst
	next := tat + c.interval
	if next-now > tau {
		return false, tat, verdict{remaining: 0, reset: time.Duration(tat - now), retry: time.Duration(next - tau - now)}
	}
	return true, next, verdict{remaining: (tau - (next - now)) / c.interval, reset: time.Duration(next - now)}
}

// local is the in-process store: the only one when no Redis is configured,
// and the fallback while Redis is down (each gateway then enforces every
// limit on its own). A bucket is forgotten once its TAT has passed: a
// bucket past its TAT is the same as a new one.
type local struct {
	mu      sync.Mutex
	tats    map[string]int64
	maxKeys int
	sweptAt int64
}

func newLocal(maxKeys int) *local {
	return &local{tats: make(map[string]int64), maxKeys: maxKeys}
}

// decide admits the request when every cell admits it, and then counts it
// in every cell's bucket; a refused request counts in none. It returns
// the verdicts in cells' order.
func (l *local) decide(now int64, cells []cell, out []verdict) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tats) >= l.maxKeys {
		l.sweep(now)
	}
	all := true
	var tats [maxCells]int64
	var buckets [maxCells]string
	for i, c := range cells {
		b := c.bucket
		tat, known := l.tats[b]
		if !known && len(l.tats) >= l.maxKeys {
			// Past maxKeys live buckets (an address scan, say), every
			// new bucket counts in one shared overflow bucket: stricter
			// for those callers, never unlimited, and memory stays bounded.
			b = overflowBucket
			tat = l.tats[b]
		}
		ok, next, v := gcra(now, tat, c)
		all = all && ok
		tats[i], buckets[i], out[i] = next, b, v
	}
	if !all {
		return false
	}
	for i := range cells {
		l.tats[buckets[i]] = tats[i]
	}
	return true
}

// overflowBucket is where new buckets count once the store is full.
const overflowBucket = "~overflow"

// sweep forgets the buckets whose TAT has passed, at most once a second.
func (l *local) sweep(now int64) {
	if now-l.sweptAt < int64(time.Second) {
		return
	}
	l.sweptAt = now
	for k, tat := range l.tats {
		if tat <= now {
			delete(l.tats, k)
		}
	}
}

// size returns how many buckets are held.
func (l *local) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tats)
}
