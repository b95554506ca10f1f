package registryd

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/plugboard/plugboard/core/platform/fault"
)

// coreKeys verifies API keys with core's POST /api/auth/verify and caches
// each answer (refusals too) for ttl, so that revocation takes effect
// within ttl and a busy plugin costs core one call per ttl.
type coreKeys struct {
	url    string
	client *http.Client
	ttl    time.Duration

	mu    sync.Mutex
	cache map[[32]byte]keyAnswer
}

type keyAnswer struct {
	scopes  []string
	err     error
	expires time.Time
}

func newCoreKeys(coreURL string, ttl time.Duration) *coreKeys {
	return &coreKeys{url: strings.TrimSuffix(coreURL, "/") + "/api/auth/verify",
		client: &http.Client{Timeout: 5 * time.Second}, ttl: ttl, cache: map[[32]byte]keyAnswer{}}
}

// VerifyKey implements httpapi.KeyVerifier.
func (c *coreKeys) VerifyKey(ctx context.Context, key string) ([]string, error) {
	h := sha256.Sum256([]byte(key))
	now := time.Now()
	c.mu.Lock()
	if a, ok := c.cache[h]; ok && now.Before(a.expires) {
		c.mu.Unlock()
		return a.scopes, a.err
	}
	c.mu.Unlock()
	scopes, err := c.ask(ctx, key)
	if err != nil && !fault.Is(err, fault.Unauthorized) {
		return nil, err // an outage is not cached
	}
	c.mu.Lock()
	if len(c.cache) > 10000 {
		clear(c.cache)
	}
	c.cache[h] = keyAnswer{scopes, err, now.Add(c.ttl)}
	c.mu.Unlock()
	return scopes, err
}

func (c *coreKeys) ask(ctx context.Context, key string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", key)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "The core service, which checks API keys, is unreachable.")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		var id struct {
			Scopes []string `json:"scopes"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&id); err != nil {
			return nil, fmt.Errorf("decode core's answer: %w", err)
		}
		return id.Scopes, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fault.Errorf(fault.Unauthorized, "The API key is invalid, expired or revoked.")
	default:
		return nil, fault.Errorf(fault.Unavailable, "The core service answered %d while checking an API key.", resp.StatusCode)
	}
}
