package jwtauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/coreclient"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/registry"
)

// This file is jwt_auth's side of core's change feed (internal/corefeed):
// revocations become a denylist checked on every bearer request, and
// other changes drop or replace cached answers at once; key_cache_ttl
// stays the safety net.

// What bearer tokens get once the feed has been down longer than
// feed_max_staleness (StaleFeed).
const (
	// StaleFeedVerify: each token is also checked with core, like an API
	// key (cached key_cache_ttl; stale_if_error while core is down; 503
	// beyond). The default.
	StaleFeedVerify = "verify"
	// StaleFeedAccept: tokens are still decided locally (fail open): a
	// revocation made while the feed is down is enforced only when it
	// returns.
	StaleFeedAccept = "accept"
	// StaleFeedRefuse: every bearer token is refused with 503 (fail
	// closed).
	StaleFeedRefuse = "refuse"
)

var (
	errRevokedToken = &refusal{http.StatusUnauthorized, "The access token has been revoked.", true}
	errFeedDown     = errors.New("core's change feed has been down longer than feed_max_staleness (stale_feed refuse)")
)

// denylist holds the revocations learnt from the feed that still matter:
// an entry is kept until every token it could match has expired (At +
// max_token_ttl + the verifier's leeway). Entries are facts that never
// become false, so keeping one longer is safe.
type denylist struct {
	n        atomic.Int64 // entries: 0 lets a check skip the lock
	mu       sync.RWMutex
	sessions map[string]time.Time   // sid → kept until
	users    map[string]revokedUpTo // user id → …
	tenants  map[string]revokedUpTo // tenant id → …
	swept    time.Time              // last sweep of expired entries; mu guards it
}

// revokedUpTo refuses the tokens issued at or before at (unix seconds).
type revokedUpTo struct {
	at    int64
	until time.Time
}

func newDenylist() *denylist {
	return &denylist{sessions: map[string]time.Time{}, users: map[string]revokedUpTo{}, tenants: map[string]revokedUpTo{}}
}

// denies reports whether a token of id is revoked. A token's iat is whole
// seconds, so a revocation at 12:00:00.5 refuses a token issued at
// 12:00:00.7 too (iat 12:00:00): a user re-logging in within the second
// of a revocation must log in again a second later.
func (d *denylist) denies(id *identity) bool {
	if d.n.Load() == 0 {
		return false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if id.sessionID != "" {
		if _, ok := d.sessions[id.sessionID]; ok {
			return true
		}
	}
	if r, ok := d.users[id.UserID]; ok && id.issuedAt <= r.at {
		return true
	}
	if r, ok := d.tenants[id.TenantID]; ok && id.issuedAt <= r.at {
		return true
	}
	return false
}

// add records e's revocation, if it is one, kept for keep past e.At.
func (d *denylist) add(e corefeed.Event, keep time.Duration, now time.Time) {
	until := e.At.Add(keep)
	if !now.Before(until) {
		return // every token it could match has expired
	}
	upTo := func(m map[string]revokedUpTo, k string) {
		if k == "" {
			return
		}
		r := m[k]
		m[k] = revokedUpTo{at: max(r.at, e.At.Unix()), until: maxTime(r.until, until)}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch e.Kind {
	case corefeed.SessionRevoked:
		if e.SessionID != "" {
			d.sessions[e.SessionID] = maxTime(d.sessions[e.SessionID], until)
		}
	case corefeed.UserRevoked:
		upTo(d.users, e.UserID)
	case corefeed.TenantRevoked:
		upTo(d.tenants, e.TenantID)
	default:
		return
	}
	if now.Sub(d.swept) > time.Minute {
		d.swept = now
		for k, u := range d.sessions {
			if !now.Before(u) {
				delete(d.sessions, k)
			}
		}
		for _, m := range []map[string]revokedUpTo{d.users, d.tenants} {
			for k, r := range m {
				if !now.Before(r.until) {
					delete(m, k)
				}
			}
		}
	}
	d.n.Store(int64(len(d.sessions) + len(d.users) + len(d.tenants)))
}

// clone returns a copy, to seed the next config's handler with.
func (d *denylist) clone() *denylist {
	c := newDenylist()
	d.mu.RLock()
	defer d.mu.RUnlock()
	for k, v := range d.sessions {
		c.sessions[k] = v
	}
	for k, v := range d.users {
		c.users[k] = v
	}
	for k, v := range d.tenants {
		c.tenants[k] = v
	}
	c.n.Store(d.n.Load())
	return c
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// denylists holds the last denylist of each core URL: a reloaded config's
// handler starts from it, so that revocations stay in force while its own
// follower connects and replays (state that must outlive a config, as
// Caddy's reloads build new handlers before stopping the old ones).
var denylists sync.Map // core URL → *denylist

// seedDenylist returns the denylist a new handler of core starts with.
func seedDenylist(core string) *denylist {
	d := newDenylist()
	if prev, ok := denylists.Load(core); ok {
		d = prev.(*denylist).clone()
	}
	denylists.Store(core, d)
	return d
}

// newFollower returns the handler's follower of core's feed.
func (h *JWTAuth) newFollower() *corefeed.Follower {
	return corefeed.NewFollower(corefeed.FollowerConfig{
		Core:      h.Core,
		OnReset:   h.onReset,
		OnChange:  h.onChange,
		Transport: h.client.Transport,
		Logger:    h.logger,
		Now:       func() time.Time { return h.now() },
	})
}

// onReset drops every cached decision (tokens, API keys, tenants) and
// fetches the JWKS; the denylist is kept (its entries stay true) and the
// replayed events add to it.
func (h *JWTAuth) onReset(int64) {
	h.rt.keys.Load().tokens.Clear()
	h.rt.core.Purge(func(*identity, bool) bool { return true })
	h.rt.tenantGen.Add(1)
	h.rt.tenants.Clear()
	if h.rt.resets.Add(1) > 1 { // the first comes as the refresher's first fetch runs
		h.kickJWKS() // a signing_keys event may be among those missed
	}
	h.logger.Info("core's change feed reset: dropped every cached answer")
}

// kickJWKS has the refresher fetch the JWKS now.
func (h *JWTAuth) kickJWKS() {
	select {
	case h.rt.kick <- struct{}{}:
	default: // a fetch is pending already
	}
}

// onChange applies one change.
func (h *JWTAuth) onChange(e corefeed.Event) {
	now := h.now()
	h.rt.deny.add(e, time.Duration(h.MaxTokenTTL)+auth.DefaultLeeway, now)
	ofUser := func(id *identity, _ bool) bool { return id != nil && id.UserID == e.UserID }
	ofTenant := func(id *identity, _ bool) bool { return id != nil && id.TenantID == e.TenantID }
	switch e.Kind {
	case corefeed.UserRevoked:
		h.rt.core.Purge(ofUser)
	case corefeed.TenantRevoked, corefeed.TenantChanged:
		// Refusals go too: a reactivated tenant's keys were refused.
		h.rt.core.Purge(func(id *identity, refused bool) bool { return refused || ofTenant(id, refused) })
		h.dropTenant(e.TenantID)
	case corefeed.APIKeyRevoked, corefeed.APIKeyChanged:
		h.rt.core.Purge(func(id *identity, _ bool) bool {
			// An answer without key_id (an older core) goes with its user's.
			return id != nil && (id.keyID == e.KeyID || id.keyID == "" && id.UserID == e.UserID)
		})
	case corefeed.TenantServices:
		// API keys' answers carry the services; a token's tenant is asked
		// again, as its services and quota are cached together.
		h.rt.core.Purge(ofTenant)
		h.dropTenant(e.TenantID)
	case corefeed.SigningKeys:
		h.kickJWKS()
	}
}

func (h *JWTAuth) dropTenant(tenant string) {
	h.rt.tenantGen.Add(1)
	h.rt.tenants.DeleteFunc(func(k string, _ []string) bool { return k == tenant })
	h.rt.quotas.DeleteFunc(func(k string, _ *registry.RateLimit) bool { return k == tenant })
}

// checkToken applies the feed to a token verified locally: a revoked
// token is refused, and once the feed has been down longer than
// FeedMaxStaleness the token gets StaleFeed.
func (h *JWTAuth) checkToken(ctx context.Context, r *http.Request, token string, id *identity, now time.Time) (*identity, error) {
	if h.rt.deny.denies(id) {
		return nil, errRevokedToken
	}
	if h.rt.feed == nil || h.rt.feed.StaleFor(now) <= time.Duration(h.FeedMaxStaleness) {
		return id, nil
	}
	switch h.StaleFeed {
	case StaleFeedAccept:
		return id, nil
	case StaleFeedRefuse:
		return nil, errFeedDown
	}
	ans, err := h.rt.core.Verify(ctx, r.Header.Get("X-Request-Id"), credential.Bearer, token, time.Unix(id.expires, 0))
	switch {
	case errors.Is(err, coreclient.ErrRefused):
		return nil, &refusal{http.StatusUnauthorized, "The access token is no longer valid.", true}
	case err != nil:
		return nil, err
	case ans.UserID != id.UserID || ans.TenantID != id.TenantID:
		h.logger.Warn("core placed a token with another user or tenant", slog.String("token_tenant", id.TenantID), slog.String("core_tenant", ans.TenantID))
		return nil, errBadToken
	}
	return ans, nil
}
