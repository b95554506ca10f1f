package coreclient

import (
	"errors"
	"sync"
	"time"
)

var errFlightAborted = errors.New("shared call aborted")

// Cache is a bounded map whose entries expire. When full, a put first
// drops expired entries among a few it samples and, if none was expired,
// one arbitrary entry, so that it stays O(1) even while being flooded.
// It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu  sync.RWMutex
	max int
	m   map[K]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v     V
	until time.Time
}

// NewCache returns an empty cache of at most max entries.
func NewCache[K comparable, V any](max int) *Cache[K, V] {
	return &Cache[K, V]{max: max, m: make(map[K]cacheEntry[V])}
}

// Get returns k's value if it is present and now is before its expiry.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v under k until the given time.
func (c *Cache[K, V]) Put(k K, v V, until time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		const sample = 8
		n, evicted := 0, false
		var first K
		for key, e := range c.m { // map iteration starts at a random entry
			if n == 0 {
				first = key
			}
			if !now.Before(e.until) {
				delete(c.m, key)
				evicted = true
			}
			if n++; n == sample {
				break
			}
		}
		if !evicted {
			delete(c.m, first)
		}
	}
	c.m[k] = cacheEntry[V]{v: v, until: until}
}

// DeleteFunc deletes every entry for which del returns true, expired ones
// included.
func (c *Cache[K, V]) DeleteFunc(del func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if del(k, e.v) {
			delete(c.m, k)
		}
	}
}

// Clear deletes every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// Len returns the number of entries, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// flight makes concurrent calls for the same key share one execution.
type flight[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*flightCall[V]
}

type flightCall[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// do runs fn, or waits for the run already going for key and returns its
// result.
func (f *flight[K, V]) do(key K, fn func() (V, error)) (V, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.v, c.err
	}
	if f.calls == nil {
		f.calls = map[K]*flightCall[V]{}
	}
	c := &flightCall[V]{done: make(chan struct{}), err: errFlightAborted} // kept if fn panics
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = fn()
	return c.v, c.err
}
