package registryd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/coreclient"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/registry/httpapi"
)

// coreKeys verifies API keys and access tokens with core's POST
// /api/auth/verify through coreclient, which caches each answer (refusals
// too) for ttl, or until an access token expires if that is sooner, so
// that revocation takes effect within ttl and a busy caller costs core one
// call per ttl. Unlike jwt_auth, the registry uses no stale answer while
// core is down: it answers 503.
type coreKeys struct {
	client *coreclient.Client[identity]
}

var _ httpapi.Verifier = (*coreKeys)(nil)

// identity is the part of core's answer the registry uses.
type identity struct {
	Roles  []string
	Scopes []string
}

func newCoreKeys(coreURL string, ttl time.Duration, logger *slog.Logger) *coreKeys {
	return &coreKeys{client: coreclient.New(coreclient.Config[identity]{
		Core: coreURL, TTL: ttl, Logger: logger,
		Convert: func(a *coreclient.Answer) identity { return identity{Roles: a.Roles, Scopes: a.Scopes} },
	})}
}

// VerifyKey implements httpapi.Verifier.
func (c *coreKeys) VerifyKey(ctx context.Context, key string) ([]string, error) {
	id, err := c.client.Verify(ctx, "", credential.APIKey, key, time.Time{})
	return id.Scopes, explain(err, "The API key is invalid, expired or revoked.")
}

// VerifyAccessToken implements httpapi.Verifier.
func (c *coreKeys) VerifyAccessToken(ctx context.Context, token string) ([]string, error) {
	id, err := c.client.Verify(ctx, "", credential.Bearer, token, tokenExpiry(token))
	return id.Roles, explain(err, "The bearer token is neither the registry token nor a valid access token.")
}

// explain turns coreclient's errors into faults: refused is the message of
// a refusal (401).
func explain(err error, refused string) error {
	var status *coreclient.StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, coreclient.ErrRefused):
		return fault.Errorf(fault.Unauthorized, "%s", refused)
	case errors.As(err, &status):
		return fault.Errorf(fault.Unavailable, "The core service answered %d while checking a credential.", status.Code)
	default:
		return fault.Wrap(err, fault.Unavailable, "The core service, which checks credentials, is unreachable.")
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
