package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
)

// CreateRefreshToken implements core.SessionStore.
func (s *Store) CreateRefreshToken(ctx context.Context, t *core.RefreshToken) error {
	if t.ID == "" {
		t.ID = newID()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)`, t.ID, t.FamilyID, t.UserID, t.TokenHash, storage.Time(t.CreatedAt), storage.Time(t.ExpiresAt))
	if err != nil {
		if errors.Is(storage.Interpret(err), storage.ErrForeignKey) {
			return fault.Errorf(fault.NotFound, "User %q not found.", t.UserID)
		}
		return storage.Fault(err, "refresh token")
	}
	return nil
}

// UseRefreshToken implements core.SessionStore.
func (s *Store) UseRefreshToken(ctx context.Context, hash string, now time.Time) (*core.RefreshToken, error) {
	var t core.RefreshToken
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, family_id, user_id, token_hash, created_at, expires_at, used_at, revoked_at
FROM refresh_tokens WHERE token_hash = $1`+s.forUpdate(), hash).Scan(&t.ID, &t.FamilyID, &t.UserID, &t.TokenHash,
			(*storage.Time)(&t.CreatedAt), (*storage.Time)(&t.ExpiresAt), storage.Nullable(&t.UsedAt), storage.Nullable(&t.RevokedAt))
		if errors.Is(err, sql.ErrNoRows) {
			return fault.Errorf(fault.NotFound, "Unknown refresh token.")
		}
		if err != nil {
			return storage.Fault(err, "refresh token")
		}
		if t.UsedAt == nil {
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE id = $2`, storage.Time(now), t.ID); err != nil {
				return storage.Fault(err, "refresh token")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// forUpdate locks the selected row on PostgreSQL (SQLite's IMMEDIATE
// transactions already hold the write lock), so that two refreshes of one
// token cannot both see it unused.
func (s *Store) forUpdate() string {
	if s.db.Dialect == storage.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// RevokeFamily implements core.SessionStore: a session it ends appends
// session.revoked.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		userID, err := s.revokeRefreshTokens(ctx, tx, `family_id`, familyID, now)
		if err != nil || userID == "" {
			return err
		}
		var tenantID string
		if err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM users WHERE id = $1`, userID).Scan(&tenantID); err != nil {
			return storage.Fault(err, "user")
		}
		return log.append(ctx, corefeed.Event{Kind: corefeed.SessionRevoked, SessionID: familyID, UserID: userID, TenantID: tenantID})
	})
}

// RevokeUserSessions implements core.SessionStore: when it revokes a
// session, it appends user.revoked (every token of the user issued so far
// is refused).
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		if found, err := s.revokeRefreshTokens(ctx, tx, `user_id`, userID, now); err != nil || found == "" {
			return err
		}
		var tenantID string
		if err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM users WHERE id = $1`, userID).Scan(&tenantID); err != nil {
			return storage.Fault(err, "user")
		}
		return log.append(ctx, corefeed.Event{Kind: corefeed.UserRevoked, UserID: userID, TenantID: tenantID})
	})
}

// SessionRevoked implements core.SessionStore.
func (s *Store) SessionRevoked(ctx context.Context, familyID string) (bool, error) {
	var revoked bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL)`, familyID).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("read session %s: %w", familyID, err)
	}
	return revoked, nil
}

// revokeRefreshTokens revokes the live refresh tokens whose column (a
// constant) is value, and returns their user, "" when there was none.
func (s *Store) revokeRefreshTokens(ctx context.Context, tx *sql.Tx, column, value string, now time.Time) (string, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE refresh_tokens SET revoked_at = $1 WHERE `+column+` = $2 AND revoked_at IS NULL RETURNING user_id`,
		storage.Time(now), value)
	if err != nil {
		return "", storage.Fault(err, "refresh token")
	}
	defer rows.Close()
	userID := ""
	for rows.Next() {
		if err := rows.Scan(&userID); err != nil {
			return "", storage.Fault(err, "refresh token")
		}
	}
	if err := rows.Err(); err != nil {
		return "", storage.Fault(err, "refresh token")
	}
	return userID, nil
}
