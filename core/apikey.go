package core

import (
	"context"
	"time"

	"github.com/plugboard/plugboard/registry"
)

// APIKey is a long-lived credential of a tenant, optionally on behalf of one
// of its users. Only a hash of the secret is kept.
type APIKey struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	// UserID is the user the key acts for, "" for a tenant-wide key. It must
	// be a user of the same tenant.
	UserID string `json:"user_id,omitempty"`
	// Name is unique within the tenant.
	Name string `json:"name"`
	// Prefix is the public start of the secret, shown to identify the key; it
	// is unique across all tenants.
	Prefix string `json:"prefix"`
	// KeyHash is the hash of the secret; it never leaves the service.
	KeyHash   string     `json:"-"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used"`
	RevokedAt *time.Time `json:"revoked_at"`
	CreatedAt time.Time  `json:"created_at"`
	// RateLimit is the key's quota, set when it is created, which every
	// gateway enforces on the key's requests; nil for none.
	RateLimit *registry.RateLimit `json:"rate_limit"`
}

// Usable reports whether k may authenticate a request at now: it is neither
// revoked nor expired. Whether its tenant and user are active is the
// caller's to check.
func (k *APIKey) Usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Validate reports, as a fault.Invalid error naming each bad field, whether k
// can be stored. It does not look at ID, CreatedAt, LastUsed or RevokedAt.
func (k *APIKey) Validate() error {
	p := problems{}
	p.required("tenant_id", k.TenantID)
	p.name("name", k.Name)
	p.name("prefix", k.Prefix)
	p.required("key_hash", k.KeyHash)
	p.list("scopes", k.Scopes)
	if k.RateLimit != nil {
		p.rateLimit("rate_limit", k.RateLimit)
	}
	return p.err("Invalid API key.")
}

// APIKeyStore keeps API keys durable. Errors are fault errors.
type APIKeyStore interface {
	// CreateAPIKey stores k and fills in its ID and CreatedAt. It returns
	// invalid for a k that fails Validate, not_found when k's tenant does not
	// exist or k's user is not a user of that tenant, and conflict when the
	// name is taken in the tenant or the prefix or hash is already in use.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKey returns the key with id, revoked or not, or not_found.
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	// GetAPIKeyByHash returns the key whose hash is keyHash, revoked or
	// expired or not (see APIKey.Usable), or not_found.
	GetAPIKeyByHash(ctx context.Context, keyHash string) (*APIKey, error)
	// ListAPIKeys returns the keys of tenantID, revoked ones included,
	// ordered by name (byte by byte); an unknown tenant has none.
	ListAPIKeys(ctx context.Context, tenantID string) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked at t; not_found for an unknown id.
	// Revoking twice is not an error and keeps the first time.
	RevokeAPIKey(ctx context.Context, id string, t time.Time) error
	// TouchAPIKeys records, in one transaction, when each key in lastUsed
	// (by ID) was last used. A time older than the one stored is ignored, as
	// are IDs of keys that no longer exist.
	TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error
}
