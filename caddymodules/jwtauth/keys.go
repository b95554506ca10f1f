package jwtauth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/coreclient"
)

// keyring is one JWKS's keys with the tokens verified by them: a new JWKS
// brings a new, empty token cache, so a key that leaves the JWKS stops
// vouching for cached tokens at once.
type keyring struct {
	keys     map[string]ed25519.PublicKey
	verifier auth.Verifier
	tokens   *coreclient.Cache[[sha256.Size]byte, *identity]
}

func (h *JWTAuth) newKeyring(keys map[string]ed25519.PublicKey) *keyring {
	kr := &keyring{keys: keys, tokens: coreclient.NewCache[[sha256.Size]byte, *identity](cacheSize)}
	kr.verifier = auth.Verifier{Issuer: h.Issuer, Audience: h.Audience, Keys: func(kid string) (ed25519.PublicKey, bool) {
		k, ok := kr.keys[kid]
		return k, ok
	}}
	return kr
}

// refreshLoop fetches the JWKS now and every JWKSRefresh until ctx is
// done; after a failure it retries sooner, backing off from 1s to 30s.
func (h *JWTAuth) refreshLoop(ctx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			h.logger.Error("JWKS refresher panicked", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		}
	}()
	const minBackoff, maxBackoff = time.Second, 30 * time.Second
	backoff, failing := minBackoff, false
	for {
		h.rt.fetchMu.Lock()
		err := h.fetchKeys(ctx)
		h.rt.fetchMu.Unlock()
		wait := time.Duration(h.JWKSRefresh)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				h.logger.Error("could not fetch core's JWKS; refusing bearer tokens whose key is unknown until it answers",
					slog.String("core", h.Core), slog.Any("error", err))
			} else {
				h.logger.Warn("core's JWKS still unreachable", slog.Any("error", err), slog.Duration("retry_in", backoff))
			}
			failing = true
			wait = min(wait, backoff)
			backoff = min(2*backoff, maxBackoff)
		default:
			if failing {
				h.logger.Info("core's JWKS is reachable again")
			}
			failing, backoff = false, minBackoff
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-h.rt.kick: // core's feed says its signing keys changed
			t.Stop()
		}
	}
}

// refetch fetches the JWKS for a token whose kid seen does not know,
// unless another fetch replaced seen meanwhile or one ran less than
// refetchEvery ago. It returns the current keyring.
func (h *JWTAuth) refetch(ctx context.Context, seen *keyring) *keyring {
	h.rt.fetchMu.Lock()
	defer h.rt.fetchMu.Unlock()
	if cur := h.rt.keys.Load(); cur != seen {
		return cur
	}
	now := h.now()
	if !h.rt.lastOnDemand.IsZero() && now.Sub(h.rt.lastOnDemand) < refetchEvery {
		return seen
	}
	h.rt.lastOnDemand = now
	if err := h.fetchKeys(context.WithoutCancel(ctx)); err != nil {
		h.logger.Warn("could not fetch core's JWKS for an unknown kid", slog.String("core", h.Core), slog.Any("error", err))
	}
	return h.rt.keys.Load()
}

// fetchKeys gets core's JWKS and, if its keys changed, installs them with
// a new token cache. The caller holds fetchMu.
func (h *JWTAuth) fetchKeys(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(h.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.Core+"/api/auth/jwks.json", nil)
	if err != nil {
		return fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch jwks: core answered %s", resp.Status)
	}
	var set auth.JWKS
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxBody)).Decode(&set); err != nil {
		return fmt.Errorf("decode jwks: %w", err)
	}
	keys, err := set.PublicKeys()
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	cur := h.rt.keys.Load()
	if maps.EqualFunc(cur.keys, keys, func(a, b ed25519.PublicKey) bool { return a.Equal(b) }) {
		return nil
	}
	h.rt.keys.Store(h.newKeyring(keys))
	h.logger.Info("loaded core's JWKS", slog.Any("kids", slices.Sorted(maps.Keys(keys))))
	return nil
}

// verifyToken authenticates an access token: from the cache of the
// current JWKS, or by verifying it, fetching the JWKS first if its kid is
// unknown (at most once per refetchEvery).
func (h *JWTAuth) verifyToken(ctx context.Context, token string) (*identity, error) {
	now := h.now()
	sum := sha256.Sum256([]byte(token))
	kr := h.rt.keys.Load()
	if id, ok := kr.tokens.Get(sum, now); ok {
		return id, nil
	}
	claims, err := kr.verifier.Verify(token, now)
	if errors.Is(err, auth.ErrUnknownKey) {
		if kr2 := h.refetch(ctx, kr); kr2 != kr {
			kr = kr2
			claims, err = kr.verifier.Verify(token, now)
		}
	}
	switch {
	case errors.Is(err, auth.ErrExpired):
		return nil, errExpiredToken
	case err != nil:
		h.logger.Debug("refused an access token", slog.Any("error", err))
		return nil, errBadToken
	}
	id := newIdentity(claims.Subject, claims.TenantID, claims.Roles, claims.Scopes, nil)
	id.sessionID = claims.SessionID
	if claims.IssuedAt != nil {
		id.issuedAt = claims.IssuedAt.Unix()
	} // else 0: every revocation of its user or tenant matches it
	id.expires = claims.ExpiresAt.Unix()
	if exp := claims.ExpiresAt.Time; now.Before(exp) { // not while only the leeway admits it
		kr.tokens.Put(sum, id, exp, now)
	}
	return id, nil
}
