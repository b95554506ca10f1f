package core

import (
	"context"
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
