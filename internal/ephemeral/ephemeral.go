// Package ephemeral is the state layer for what Plugboard may lose but must
// share between replicas: values with a time to live (heartbeat freshness,
// caches, revoked tokens), counters with an expiry (rate limits, failed
// logins), leases (which replica runs the sweeps) and publish/subscribe
// (change notifications).
//
// Two implementations satisfy Store: Memory, which keeps everything in this
// process (the embedded default), and Redis, built on go-redis/v9 for
// deployments of several replicas. Open picks one from a URL.
//
// Publish/subscribe is at-most-once in both: a message published while a
// subscriber is disconnected or too slow is not delivered to it. Consumers
// that must not miss changes carry a revision in each message and resync
// from the durable store when they see a gap.
package ephemeral

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned by Get for a key that does not exist or expired.
var ErrNotFound = errors.New("ephemeral: key not found")

// KV stores values under string keys, each with an optional time to live.
// A ttl of zero means the value does not expire.
type KV interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetMany returns the values of keys in order, nil for a missing key.
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
	// Set stores value under key, replacing what was there.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetMany stores every value of values under its key, all with one ttl,
	// in one round trip.
	SetMany(ctx context.Context, values map[string][]byte, ttl time.Duration) error
	// SetNX stores value under key only if key does not exist, and reports
	// whether it did.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Counter counts events in fixed windows.
type Counter interface {
	// Incr adds one to the counter key and returns the new count. The first
	// increment starts the window: the counter disappears window after it.
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
}

// Locker hands out leases: at most one owner holds a key at a time.
type Locker interface {
	// Claim acquires the lease key for owner if it is free, or renews it if
	// owner already holds it, for ttl. It reports whether owner holds it.
	Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Release gives the lease up if owner holds it.
	Release(ctx context.Context, key, owner string) error
}

// PubSub delivers messages to every current subscriber of a channel, in
// every process sharing the store.
type PubSub interface {
	// Publish sends payload to the subscribers of channel.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe starts receiving channel's messages. When Subscribe returns,
	// the subscription is active: a later Publish reaches it.
	Subscribe(ctx context.Context, channel string) (Subscription, error)
}

// Subscription is a live subscription to one channel.
type Subscription interface {
	// Messages delivers payloads in publish order. It is closed after Close.
	Messages() <-chan []byte
	// Close ends the subscription.
	Close() error
}

// Store is the whole ephemeral state layer. Implementations are safe for
// concurrent use.
type Store interface {
	KV
	Counter
	Locker
	PubSub
	// Ping reports whether the backing server answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Open returns the store a URL names: "" for an in-process Memory store,
// "redis://…" or "rediss://…" for Redis. Every key and channel is put under
// prefix, so that several deployments (or tests) can share one Redis.
func Open(ctx context.Context, rawURL, prefix string) (Store, error) {
	switch {
	case rawURL == "":
		return NewMemory(), nil
	case strings.HasPrefix(rawURL, "redis://"), strings.HasPrefix(rawURL, "rediss://"), strings.HasPrefix(rawURL, "unix://"):
		return OpenRedis(ctx, rawURL, prefix)
	default:
		return nil, fmt.Errorf("open ephemeral store: unsupported URL scheme (want redis://… or empty)")
	}
}
