// Package coreclient is the one client of core's POST /api/auth/verify,
// shared by the gateway's jwt_auth and the registry: it asks core about a
// credential (an API key or an access token) and caches the answer —
// acceptance or refusal — by a hash of the credential, so that a busy
// caller costs core one call per TTL.
//
// Concurrent requests for the same credential share one call
// (singleflight). After a failed call (core down, not a refusal) core is
// not asked again for Backoff: requests are answered from the cache or
// fail at once instead of each waiting for a timeout. While core cannot be
// asked, an answer up to StaleIfError past its expiry is still used
// (RFC 5861's stale-if-error), so that an outage does not lock out every
// caller once the cache expires; refusals already known stay in force.
package coreclient

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/registry"
)

// Answer is core's answer to POST /api/auth/verify.
type Answer struct {
	UserID          string   `json:"user_id"`
	TenantID        string   `json:"tenant_id"`
	TenantName      string   `json:"tenant_name"`
	Username        string   `json:"username"`
	Roles           []string `json:"roles"`
	Scopes          []string `json:"scopes"`
	EnabledServices []string `json:"enabled_services"`
	// TenantRateLimit and APIKeyRateLimit are the quotas core set for the
	// caller's tenant and API key (nil: none), which plugboard_rate_limit
	// enforces beside the endpoints' own.
	TenantRateLimit *registry.RateLimit `json:"tenant_rate_limit,omitempty"`
	// APIKeyID is the API key's ID when the credential is one.
	APIKeyID        string              `json:"api_key_id,omitempty"`
	APIKeyRateLimit *registry.RateLimit `json:"api_key_rate_limit,omitempty"`
	// KeyID names the API key (as core's change feed does in
	// apikey.revoked events), so that such an event drops its cached
	// answer; "" for an access token.
	KeyID string `json:"key_id,omitempty"`
	// ExpiresAt is when the API key expires; nil when it never does (and
	// for an access token). No answer is cached, nor used stale, past it.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Kind is the kind of credential asked about (set by Verify, not
	// core), so that Convert can apply rbac.KeyRoles to an API key.
	Kind credential.Kind `json:"-"`
}

// Backoff is how long core is not asked again after a failed call.
const Backoff = time.Second

var (
	// ErrRefused is core refusing the credential (401 or 403).
	ErrRefused = errors.New("core refused the credential")
	// ErrBackingOff is returned instead of asking core within Backoff of a
	// failed call.
	ErrBackingOff = errors.New("core failed less than a second ago; not asked again yet")
)

// StatusError is core answering with a status other than 200, 401 or 403.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("verify credential: core answered %d %s", e.Code, http.StatusText(e.Code))
}

// Config configures a Client whose cached values are Vs.
type Config[V any] struct {
	// Core is core's base URL (required).
	Core string
	// Convert makes the cached value out of core's answer (required); it
	// runs once per call to core, so that a cache hit costs no allocation.
	Convert func(*Answer) V
	// Timeout bounds each call to core. Default: 5s
	Timeout time.Duration
	// TTL is how long an answer is cached. Default: 30s
	TTL time.Duration
	// StaleIfError is how long past TTL an answer is used while core
	// cannot be asked. Zero: never.
	StaleIfError time.Duration
	// MaxEntries bounds the cache. Default: 10000
	MaxEntries int
	// Transport carries the calls. Default: a clone of
	// http.DefaultTransport keeping 32 idle connections.
	Transport http.RoundTripper
	// Logger logs the first failure of an outage. Default: slog.Default()
	Logger *slog.Logger
	// Now is the clock. Default: time.Now
	Now func() time.Time
}

// Client asks core about credentials and caches the answers. It is safe
// for concurrent use.
type Client[V any] struct {
	cfg    Config[V]
	url    string
	client *http.Client
	cache  *Cache[key, entry[V]]
	calls  flight[key, entry[V]]
	// downUntil (unix nanos) is when core may be asked again after a
	// failed call.
	downUntil atomic.Int64
	// purges counts Purge calls: an answer asked for before a purge is not
	// cached after it.
	purges atomic.Int64
}

// key is a credential's cache key: its kind and the SHA-256 of its value.
type key struct {
	kind credential.Kind
	sum  [sha256.Size]byte
}

// bufs holds the buffers keyOf hashes credentials in: []byte(cred) would
// allocate for a credential longer than 32 bytes on every cache hit.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// keyOf returns cred's cache key without allocating.
func keyOf(kind credential.Kind, cred string) key {
	b := bufs.Get().(*[]byte)
	*b = append((*b)[:0], cred...)
	k := key{kind, sha256.Sum256(*b)}
	bufs.Put(b)
	return k
}

// entry is a cached answer: a value, or a refusal.
type entry[V any] struct {
	v       V
	refused bool
	expires time.Time // the credential's own expiry (core's expires_at); zero: none
	gen     int64     // Client.purges when core was asked
}

// usable reports whether the entry may answer at now: never past the
// credential's expiry, even stale.
func (e entry[V]) usable(now time.Time) bool {
	return e.expires.IsZero() || now.Before(e.expires)
}

func (e entry[V]) result() (V, error) {
	if e.refused {
		var zero V
		return zero, ErrRefused
	}
	return e.v, nil
}

// New returns a client; see Config for the defaults.
func New[V any](cfg Config[V]) *Client[V] {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.Transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		cfg.Transport = tr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client[V]{
		cfg:    cfg,
		url:    strings.TrimRight(cfg.Core, "/") + "/api/auth/verify",
		client: &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout},
		cache:  NewCache[key, entry[V]](cfg.MaxEntries),
	}
}

// Verify returns the value made of core's answer about cred, a credential
// of kind credential.APIKey or credential.Bearer: from the cache, or by
// asking core with reqID (when set) as X-Request-Id. An accepted answer is
// not cached past notAfter (unless zero), such as an access token's
// expiry. It returns ErrRefused when core refuses cred, and another error
// when core cannot be asked and no answer within StaleIfError is cached.
func (c *Client[V]) Verify(ctx context.Context, reqID string, kind credential.Kind, cred string, notAfter time.Time) (V, error) {
	now := c.cfg.Now()
	k := keyOf(kind, cred)
	if e, ok := c.cache.Get(k, now); ok && e.usable(now) {
		return e.result()
	}
	e, err := c.calls.do(k, func() (entry[V], error) {
		gen := c.purges.Load()
		ans, err := c.askUnlessDown(ctx, reqID, kind, cred)
		switch {
		case errors.Is(err, ErrRefused):
			return entry[V]{refused: true, gen: gen}, nil
		case err != nil:
			return entry[V]{}, err
		}
		ans.Kind = kind
		e := entry[V]{v: c.cfg.Convert(ans), gen: gen}
		if ans.ExpiresAt != nil {
			e.expires = *ans.ExpiresAt
		}
		return e, nil
	})
	if err != nil {
		if e, ok := c.cache.Get(k, now.Add(-c.cfg.StaleIfError)); ok && c.cfg.StaleIfError > 0 && e.usable(now) {
			return e.result() // core is unreachable: the last answer, within stale_if_error
		}
		var zero V
		return zero, err
	}
	if !e.usable(now) {
		return e.result() // expired as it was answered: nothing to cache
	}
	until := now.Add(c.cfg.TTL)
	if !e.refused && !notAfter.IsZero() && notAfter.Before(until) {
		until = notAfter
	}
	if !e.expires.IsZero() && e.expires.Before(until) {
		until = e.expires
	}
	if c.purges.Load() == e.gen { // else a purge ran while core was asked: the answer may be what it dropped
		c.cache.Put(k, e, until, now)
	}
	return e.result()
}

// Purge drops the cached answers for which drop returns true: an accepted
// answer's value, or a refusal (refused true, v the zero value). An answer
// being fetched meanwhile is returned to its callers but not cached.
func (c *Client[V]) Purge(drop func(v V, refused bool) bool) {
	c.purges.Add(1)
	c.cache.DeleteFunc(func(_ key, e entry[V]) bool { return drop(e.v, e.refused) })
}

// askUnlessDown is ask, except within Backoff of a failed call, when it
// fails at once; a failure (not a refusal) starts the back-off, and the
// first one of an outage is logged.
func (c *Client[V]) askUnlessDown(ctx context.Context, reqID string, kind credential.Kind, cred string) (*Answer, error) {
	now := c.cfg.Now()
	if now.UnixNano() < c.downUntil.Load() {
		return nil, ErrBackingOff
	}
	ans, err := c.ask(ctx, reqID, kind, cred)
	if err != nil && !errors.Is(err, ErrRefused) {
		if prev := c.downUntil.Swap(now.Add(Backoff).UnixNano()); prev < now.Add(-Backoff).UnixNano() {
			c.cfg.Logger.Warn("core is unreachable: cached answers are used for up to stale_if_error past their expiry",
				slog.String("core", c.cfg.Core), slog.Duration("stale_if_error", c.cfg.StaleIfError), slog.Any("error", err))
		}
	}
	return ans, err
}

// maxBody bounds what is read from core.
const maxBody = 1 << 20

// ask posts to core's /api/auth/verify with the credential. The call
// outlives a caller that goes away (other requests may share it) but not
// Timeout.
func (c *Client[V]) ask(ctx context.Context, reqID string, kind credential.Kind, cred string) (*Answer, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("verify request: %w", err)
	}
	switch kind {
	case credential.APIKey:
		req.Header.Set("X-API-Key", cred)
	case credential.Bearer:
		req.Header.Set("Authorization", "Bearer "+cred)
	default:
		return nil, fmt.Errorf("verify credential: kind %d is neither an API key nor a bearer token", kind)
	}
	req.Header.Set("Accept", "application/json")
	if reqID != "" {
		req.Header.Set("X-Request-Id", reqID)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verify credential: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, ErrRefused
	default:
		return nil, &StatusError{resp.StatusCode}
	}
	var ans Answer
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxBody)).Decode(&ans); err != nil {
		return nil, fmt.Errorf("verify credential: decode core's answer: %w", err)
	}
	if ans.TenantID == "" {
		return nil, errors.New("verify credential: core's answer names no tenant")
	}
	return &ans, nil
}

// CloseIdleConnections closes the client's idle connections to core.
func (c *Client[V]) CloseIdleConnections() { c.client.CloseIdleConnections() }
