package core

import (
	"context"
	"time"
)

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
	// SessionRevoked reports whether a session (a refresh token family)
	// was revoked: by logout, refresh-token reuse or the end of every
	// session of its user. An unknown session is not revoked.
	SessionRevoked(ctx context.Context, familyID string) (bool, error)
}
