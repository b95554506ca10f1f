package registryd

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/registry/httpapi"
)

// coreKeys verifies API keys and access tokens with core's POST
// /api/auth/verify and caches each answer (refusals too) for ttl, or until
// an access token expires if that is sooner, so that revocation takes
// effect within ttl and a busy caller costs core one call per ttl.
type coreKeys struct {
	url    string
	client *http.Client
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]keyAnswer
}

var _ httpapi.Verifier = (*coreKeys)(nil)

type keyAnswer struct {
	id      identity
	err     error
	expires time.Time
}

// identity is the part of core's answer the registry uses.
type identity struct {
	Roles  []string `json:"roles"`
	Scopes []string `json:"scopes"`
}

func newCoreKeys(coreURL string, ttl time.Duration) *coreKeys {
	return &coreKeys{url: strings.TrimSuffix(coreURL, "/") + "/api/auth/verify",
		client: &http.Client{Timeout: 5 * time.Second}, ttl: ttl, now: time.Now, cache: map[[32]byte]keyAnswer{}}
}

// VerifyKey implements httpapi.Verifier.
func (c *coreKeys) VerifyKey(ctx context.Context, key string) ([]string, error) {
	id, err := c.verify(ctx, "X-API-Key", key, time.Time{})
	return id.Scopes, err
}

// VerifyAccessToken implements httpapi.Verifier.
func (c *coreKeys) VerifyAccessToken(ctx context.Context, token string) ([]string, error) {
	id, err := c.verify(ctx, "Authorization", "Bearer "+token, tokenExpiry(token))
	return id.Roles, err
}

// verify asks core about the credential in header (or answers from the
// cache); a positive answer is not cached past notAfter (when set).
func (c *coreKeys) verify(ctx context.Context, header, value string, notAfter time.Time) (identity, error) {
	h := sha256.Sum256([]byte(header + "\x00" + value))
	now := c.now()
	c.mu.Lock()
	if a, ok := c.cache[h]; ok && now.Before(a.expires) {
		c.mu.Unlock()
		return a.id, a.err
	}
	c.mu.Unlock()
	id, err := c.ask(ctx, header, value)
	if err != nil && !fault.Is(err, fault.Unauthorized) {
		return identity{}, err // an outage is not cached
	}
	expires := now.Add(c.ttl)
	if err == nil && !notAfter.IsZero() && notAfter.Before(expires) {
		expires = notAfter
	}
	c.mu.Lock()
	if len(c.cache) > 10000 {
		clear(c.cache)
	}
	c.cache[h] = keyAnswer{id, err, expires}
	c.mu.Unlock()
	return id, err
}

func (c *coreKeys) ask(ctx context.Context, header, value string) (identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, nil)
	if err != nil {
		return identity{}, err
	}
	req.Header.Set(header, value)
	resp, err := c.client.Do(req)
	if err != nil {
		return identity{}, fault.Wrap(err, fault.Unavailable, "The core service, which checks credentials, is unreachable.")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		var id identity
		if err := json.NewDecoder(resp.Body).Decode(&id); err != nil {
			return identity{}, fmt.Errorf("decode core's answer: %w", err)
		}
		return id, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		if header == "X-API-Key" {
			return identity{}, fault.Errorf(fault.Unauthorized, "The API key is invalid, expired or revoked.")
		}
		return identity{}, fault.Errorf(fault.Unauthorized, "The bearer token is neither the registry token nor a valid access token.")
	default:
		return identity{}, fault.Errorf(fault.Unavailable, "The core service answered %d while checking a credential.", resp.StatusCode)
	}
}

// tokenExpiry reads a JWT's exp claim without verifying it (core does
// that); the zero time when there is none.
func tokenExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}
