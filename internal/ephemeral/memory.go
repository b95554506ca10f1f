package ephemeral

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"time"
)

// subscriberBuffer is how many undelivered messages a slow subscriber may
// have before further ones are dropped for it.
const subscriberBuffer = 1024

// Memory is a Store that lives in this process: the embedded default, for a
// single replica. Its zero value is not usable; call NewMemory.
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	values map[string]memEntry
	subs   map[string]map[*memSub]struct{}
	stop   chan struct{}
	closed bool
}

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

// NewMemory returns an empty in-process store. It runs one goroutine that
// drops expired keys; Close stops it.
func NewMemory() *Memory {
	m := &Memory{
		now:    time.Now,
		values: map[string]memEntry{},
		subs:   map[string]map[*memSub]struct{}{},
		stop:   make(chan struct{}),
	}
	go m.janitor(time.Minute)
	return m
}

func (m *Memory) janitor(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			now := m.now()
			for k, e := range m.values {
				if e.expired(now) {
					delete(m.values, k)
				}
			}
			m.mu.Unlock()
		}
	}
}

func (e memEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

func (m *Memory) expiry(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return m.now().Add(ttl)
}

// lookup returns the live entry under key; m.mu must be held.
func (m *Memory) lookup(key string) (memEntry, bool) {
	e, ok := m.values[key]
	if !ok {
		return memEntry{}, false
	}
	if e.expired(m.now()) {
		delete(m.values, key)
		return memEntry{}, false
	}
	return e, true
}

// Get implements KV.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key)
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(e.value), nil
}

// GetMany implements KV.
func (m *Memory) GetMany(_ context.Context, keys []string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := m.lookup(k); ok {
			out[i] = bytes.Clone(e.value)
		}
	}
	return out, nil
}

// Set implements KV.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[key] = memEntry{value: bytes.Clone(value), expires: m.expiry(ttl)}
	return nil
}

// SetMany implements KV.
func (m *Memory) SetMany(_ context.Context, values map[string][]byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp := m.expiry(ttl)
	for k, v := range values {
		m.values[k] = memEntry{value: bytes.Clone(v), expires: exp}
	}
	return nil
}

// SetNX implements KV.
func (m *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.lookup(key); ok {
		return false, nil
	}
	m.values[key] = memEntry{value: bytes.Clone(value), expires: m.expiry(ttl)}
	return true, nil
}

// Delete implements KV.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.values, key)
	return nil
}

// Incr implements Counter.
func (m *Memory) Incr(_ context.Context, key string, window time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key)
	var n int64
	if ok {
		n, _ = strconv.ParseInt(string(e.value), 10, 64)
	} else {
		e = memEntry{expires: m.expiry(window)}
	}
	n++
	e.value = strconv.AppendInt(nil, n, 10)
	m.values[key] = e
	return n, nil
}

// Claim implements Locker.
func (m *Memory) Claim(_ context.Context, key, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.lookup(key); ok && string(e.value) != owner {
		return false, nil
	}
	m.values[key] = memEntry{value: []byte(owner), expires: m.expiry(ttl)}
	return true, nil
}

// Release implements Locker.
func (m *Memory) Release(_ context.Context, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.lookup(key); ok && string(e.value) == owner {
		delete(m.values, key)
	}
	return nil
}

// Publish implements PubSub. A subscriber whose buffer is full misses the
// message, as a slow Redis subscriber would.
func (m *Memory) Publish(_ context.Context, channel string, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs[channel] {
		select {
		case s.ch <- bytes.Clone(payload):
		default:
		}
	}
	return nil
}

// Subscribe implements PubSub.
func (m *Memory) Subscribe(_ context.Context, channel string) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &memSub{m: m, channel: channel, ch: make(chan []byte, subscriberBuffer)}
	if m.closed {
		close(s.ch)
		return s, nil
	}
	if m.subs[channel] == nil {
		m.subs[channel] = map[*memSub]struct{}{}
	}
	m.subs[channel][s] = struct{}{}
	return s, nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store: it ends every subscription.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.stop)
	for _, subs := range m.subs {
		for s := range subs {
			close(s.ch)
		}
	}
	m.subs = nil
	return nil
}

type memSub struct {
	m       *Memory
	channel string
	ch      chan []byte
}

func (s *memSub) Messages() <-chan []byte { return s.ch }

func (s *memSub) Close() error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, ok := s.m.subs[s.channel][s]; ok {
		delete(s.m.subs[s.channel], s)
		if len(s.m.subs[s.channel]) == 0 {
			delete(s.m.subs, s.channel)
		}
		close(s.ch)
	}
	return nil
}

var _ Store = (*Memory)(nil)
