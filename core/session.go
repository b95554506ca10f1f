package core

import (
	"context"
	"encoding/json"
	"time"
)

// SigningKey is one of core's token signing keys, as stored. PrivateKey is
// the PKCS#8 key as the store holds it (base64, possibly encrypted); the
// auth service decodes it.
type SigningKey struct {
	ID         string
	Algorithm  string
	PrivateKey string
	PublicKey  string // base64 raw public key
	CreatedAt  time.Time
	// SignUntil is when the key stops signing new tokens.
	SignUntil time.Time
	// RetireAt is when the key leaves the JWKS (no token it signed is valid).
	RetireAt time.Time
}

// KeyStore keeps signing keys.
type KeyStore interface {
	// CreateSigningKey stores k; conflict if its ID exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns the keys not yet retired at now, newest first
	// (every key for the zero time).
	ListSigningKeys(ctx context.Context, now time.Time) ([]*SigningKey, error)
	// ReplaceSigningKeyPrivate replaces the stored private key of key id
	// from with to (to seal a key stored unsealed); not_found if key id
	// does not hold from (any more).
	ReplaceSigningKeyPrivate(ctx context.Context, id, from, to string) error
}

// RefreshToken is one refresh token of a login session (its family). Only
// its hash is stored.
type RefreshToken struct {
	ID        string
	FamilyID  string
	UserID    string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// SessionStore keeps refresh tokens.
type SessionStore interface {
	// CreateRefreshToken stores t; not_found if the user does not exist.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// UseRefreshToken marks the token with hash used at now and returns it
	// as it was before. not_found for an unknown hash. The caller checks
	// UsedAt/RevokedAt/ExpiresAt of the returned token: a token that was
	// already used is a replay.
	UseRefreshToken(ctx context.Context, hash string, now time.Time) (*RefreshToken, error)
	// RevokeFamily revokes every token of a session.
	RevokeFamily(ctx context.Context, familyID string, now time.Time) error
	// RevokeUserSessions revokes every token of every session of a user.
	RevokeUserSessions(ctx context.Context, userID string, now time.Time) error
}

// AuditEntry records one write: who did what to which object, when, and
// from where.
type AuditEntry struct {
	ID         string          `json:"id"`
	TenantID   string          `json:"tenant_id"` // "" for platform-wide objects
	ActorID    string          `json:"actor_id"`
	ActorName  string          `json:"actor_name"`
	Action     string          `json:"action"`      // e.g. "user.create"
	ObjectType string          `json:"object_type"` // e.g. "user"
	ObjectID   string          `json:"object_id"`
	Details    json.RawMessage `json:"details"`
	RemoteAddr string          `json:"remote_addr"`
	RequestID  string          `json:"request_id"`
	CreatedAt  time.Time       `json:"created_at"`
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	// TenantID, when set, keeps one tenant's entries only.
	TenantID *string
	// Before keeps entries created before it (for paging).
	Before *time.Time
	Limit  int // default 100, at most 1000
}

// AuditStore keeps the audit log; entries are never changed.
type AuditStore interface {
	// AppendAudit stores e, setting its ID and time.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the entries f selects, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}
