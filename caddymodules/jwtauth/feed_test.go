package jwtauth

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/testenv"
)

// These tests perform what core's change feed defends against: a
// credential or a right core has taken back, still honoured by the
// gateway from its caches (or, for access tokens, offline) until a TTL or
// the token's expiry. Each fails with onChange/onReset emptied.

// publish makes core publish e and waits until the handler applied it.
func (f *fixture) publish(e corefeed.Event) {
	f.t.Helper()
	if e.At.IsZero() {
		e.At = f.clock.Now()
	}
	rev := f.core.publish(e)
	testenv.Eventually(f.t, 5*time.Second, func() bool { return f.h.FeedRevision() >= rev },
		"the handler never applied revision %d", rev)
}

// sessionToken is token with a session id, issued now.
func (f *fixture) sessionToken(user, tenant, sid string, roles ...string) string {
	f.t.Helper()
	tok, _, err := auth.Issuer{Issuer: "plugboard", Audience: "plugboard", TTL: 10 * time.Minute}.Sign(f.key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user}, TenantID: tenant, Roles: roles, SessionID: sid,
	}, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func TestFeedRevokesTokens(t *testing.T) {
	f := newFixture(t)
	ok := func(tok, what string) {
		t.Helper()
		if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
			t.Fatalf("%s: %v", what, res.err)
		}
	}
	refused := func(tok, what string) {
		t.Helper()
		if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 401 {
			t.Fatalf("%s: status %d (%v), want 401", what, res.status, res.err)
		}
	}
	f.clock.Advance(500 * time.Millisecond) // t0+0.5s; tokens say iat t0

	// Logout: the session's tokens, cached ones too, are refused; another
	// session of the same user is not.
	s1, s2 := f.sessionToken("u1", "t1", "s1", "user"), f.sessionToken("u1", "t1", "s2", "user")
	ok(s1, "before logout")
	f.publish(corefeed.Event{Kind: corefeed.SessionRevoked, SessionID: "s1", UserID: "u1", TenantID: "t1"})
	refused(s1, "logged-out session")
	ok(s2, "other session")

	// User revoked (deactivated, demoted…): every token issued up to At,
	// in the same second included, is refused.
	u2 := f.token("u2", "t1", "tenant_admin")
	ok(u2, "before")
	f.publish(corefeed.Event{Kind: corefeed.UserRevoked, UserID: "u2", TenantID: "t1"})
	refused(u2, "revoked user's token")
	refused(f.token("u2", "t1", "user"), "same-second token")
	f.clock.Advance(time.Second)
	ok(f.token("u2", "t1", "user"), "token issued after the revocation")

	// Tenant revoked: all of its users' tokens.
	t2 := f.token("u3", "t2", "user")
	if res := f.do(call{service: "billing", endpoint: epItems, headers: bearer(t2)}); res.err != nil {
		t.Fatal(res.err)
	}
	f.publish(corefeed.Event{Kind: corefeed.TenantRevoked, TenantID: "t2"})
	if res := f.do(call{service: "billing", endpoint: epItems, headers: bearer(t2)}); res.status != 401 {
		t.Fatalf("revoked tenant's token: %d %v", res.status, res.err)
	}
	ok(s2, "other tenant")

	// A super_admin demoted no longer passes with the old token.
	sa := f.token("u0", "t1", "super_admin")
	ok(sa, "super_admin")
	f.clock.Advance(time.Second)
	f.publish(corefeed.Event{Kind: corefeed.UserRevoked, UserID: "u0", TenantID: "t1"})
	refused(sa, "demoted super_admin")

	// Entries go once every token they could match has expired.
	f.clock.Advance(time.Duration(f.h.MaxTokenTTL) + auth.DefaultLeeway + time.Minute)
	f.publish(corefeed.Event{Kind: corefeed.SessionRevoked, SessionID: "s9"}) // sweeps
	f.h.rt.deny.mu.RLock()
	n := len(f.h.rt.deny.users) + len(f.h.rt.deny.tenants) + len(f.h.rt.deny.sessions)
	f.h.rt.deny.mu.RUnlock()
	if n != 1 {
		t.Errorf("%d denylist entries after every matching token expired, want 1 (s9)", n)
	}
}

func TestFeedDropsCachedAnswers(t *testing.T) {
	f := newFixture(t)
	key := f.apiKey("u9", "t1", []string{"orders"}, "user")
	keyID := f.core.apiKeys[key].KeyID
	req := call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key}}
	if res := f.do(req); res.err != nil {
		t.Fatal(res.err)
	}
	// Core revokes it: within key_cache_ttl the cache would still accept it.
	f.core.mu.Lock()
	delete(f.core.apiKeys, key)
	f.core.mu.Unlock()
	f.publish(corefeed.Event{Kind: corefeed.APIKeyRevoked, KeyID: keyID, UserID: "u9", TenantID: "t1"})
	if res := f.do(req); res.status != 401 {
		t.Fatalf("revoked API key: %d %v", res.status, res.err)
	}

	// A tenant's services: disabled and enabled again at once.
	tok := f.token("u1", "t1", "user")
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
		t.Fatal(res.err)
	}
	// Core commits, then publishes; the gateway asks core again.
	setServices := func(s ...string) {
		f.core.mu.Lock()
		f.core.tenants["t1"] = s
		f.core.mu.Unlock()
	}
	setServices("billing")
	f.publish(corefeed.Event{Kind: corefeed.TenantServices, TenantID: "t1", Services: []string{"billing"}})
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 403 {
		t.Fatalf("disabled service: %d %v", res.status, res.err)
	}
	setServices("billing", "orders")
	f.publish(corefeed.Event{Kind: corefeed.TenantServices, TenantID: "t1", Services: []string{"billing", "orders"}})
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
		t.Fatalf("enabled again: %v", res.err)
	}

	// A user revoked: their API keys' cached answers go (core refuses now).
	key2 := f.apiKey("u8", "t1", []string{"orders"}, "user")
	req2 := call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key2}}
	if res := f.do(req2); res.err != nil {
		t.Fatal(res.err)
	}
	f.core.mu.Lock()
	delete(f.core.apiKeys, key2)
	f.core.mu.Unlock()
	f.publish(corefeed.Event{Kind: corefeed.UserRevoked, UserID: "u8", TenantID: "t1"})
	if res := f.do(req2); res.status != 401 {
		t.Fatalf("revoked user's API key: %d %v", res.status, res.err)
	}
}

func TestFeedSigningKeysFetchesJWKS(t *testing.T) {
	f := newFixture(t)
	tok := f.token("u1", "t1", "user")
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
		t.Fatal(res.err)
	}
	// Core retires the key (jwks_refresh is 5m away).
	f.core.setKeys(f.rogue)
	f.publish(corefeed.Event{Kind: corefeed.SigningKeys})
	testenv.Eventually(t, 5*time.Second, func() bool {
		return f.do(call{endpoint: epItems, headers: bearer(tok)}).status == 401
	}, "the retired key's token was still accepted")
}

func TestFeedResetDropsCaches(t *testing.T) {
	f := newFixture(t)
	key := f.apiKey("u9", "t1", []string{"orders"}, "user")
	req := call{endpoint: epItems, headers: map[string]string{"X-Api-Key": key}}
	if res := f.do(req); res.err != nil {
		t.Fatal(res.err)
	}
	tok := f.token("u1", "t1", "user")
	f.publish(corefeed.Event{Kind: corefeed.UserRevoked, UserID: "u1", TenantID: "t1"})
	// The key is revoked while the gateway misses the event; the feed
	// comes back with a reset.
	f.core.mu.Lock()
	delete(f.core.apiKeys, key)
	f.core.mu.Unlock()
	conns := f.core.feed.conns.Load()
	f.core.setFeed(true, true)
	// The clock stands still: only the reset can drop the cached answer.
	testenv.Eventually(t, 5*time.Second, func() bool {
		return f.core.feed.conns.Load() > conns && f.do(req).status == 401
	}, "after a reset the cached answer was still used")
	if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != 401 {
		t.Fatalf("the replay lost a revocation: %d %v", res.status, res.err)
	}
}

func TestFeedCutStaleBearerTokens(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		status int // of a token core refuses, once the feed is stale
	}{
		{StaleFeedVerify, 401},
		{StaleFeedRefuse, 503},
		{StaleFeedAccept, 0},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			f := newFixture(t, func(h *JWTAuth) {
				h.StaleFeed, h.FeedMaxStaleness = tc.mode, caddy.Duration(30*time.Second)
				h.KeyCacheTTL = caddy.Duration(time.Hour) // the tenant's services stay cached: only stale_feed asks core
			})
			// A super_admin's token is decided locally: core is not asked
			// about the tenant's services.
			tok := f.token("u0", "t1", "super_admin")
			if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
				t.Fatal(res.err)
			}
			testenv.Eventually(t, 5*time.Second, func() bool { return f.h.rt.feed.StaleFor(f.clock.Now()) == 0 }, "never connected")
			f.core.setFeed(false, false)
			// core refuses the token (as it would a revoked one)
			f.core.setStatus(http.StatusUnauthorized)
			f.clock.Advance(20 * time.Second) // within the bound: cached decisions
			if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.err != nil {
				t.Fatalf("within feed_max_staleness: %v", res.err)
			}
			f.clock.Advance(15 * time.Second)
			if s := f.h.rt.feed.Staleness(); s < 30 {
				t.Errorf("staleness %.1fs, want ≥ 30", s)
			}
			if res := f.do(call{endpoint: epItems, headers: bearer(tok)}); res.status != tc.status {
				t.Fatalf("stale feed: status %d (%v), want %d", res.status, res.err, tc.status)
			}
		})
	}
}

// TestReloadKeepsRevocations performs a config reload right after a
// revocation: Caddy builds a new handler whose follower has not replayed
// the feed yet; it starts from the previous handler's denylist.
func TestReloadKeepsRevocations(t *testing.T) {
	f := newFixture(t)
	f.clock.Advance(500 * time.Millisecond)
	f.publish(corefeed.Event{Kind: corefeed.UserRevoked, UserID: "u1", TenantID: "t1"})
	f.core.setFeed(false, false) // the new handler cannot replay it
	next := &JWTAuth{Core: f.core.URL, SigningSecret: testSecret}
	next.now = f.clock.Now
	if err := next.setup(); err != nil {
		t.Fatal(err)
	}
	id := newIdentity("u1", "t1", nil, nil, nil)
	id.issuedAt = f.clock.Now().Unix()
	if !next.rt.deny.denies(id) {
		t.Error("the reloaded handler forgot a revocation")
	}
}
