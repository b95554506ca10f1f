package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
)

// CreateSigningKey implements core.KeyStore.
func (s *Store) CreateSigningKey(ctx context.Context, k *core.SigningKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, public_key, created_at, sign_until, retire_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.Algorithm, k.PrivateKey, k.PublicKey,
		storage.Time(k.CreatedAt), storage.Time(k.SignUntil), storage.Time(k.RetireAt))
	if err != nil {
		return storage.Fault(err, "signing key")
	}
	return nil
}

// ListSigningKeys implements core.KeyStore.
func (s *Store) ListSigningKeys(ctx context.Context, now time.Time) ([]*core.SigningKey, error) {
	return scanAll(ctx, s.db, "signing key", func(r rowScanner) (*core.SigningKey, error) {
		var k core.SigningKey
		if err := r.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, (*storage.Time)(&k.CreatedAt),
			(*storage.Time)(&k.SignUntil), (*storage.Time)(&k.RetireAt)); err != nil {
			return nil, fmt.Errorf("scan signing key: %w", err)
		}
		return &k, nil
	}, `SELECT id, algorithm, private_key, public_key, created_at, sign_until, retire_at FROM signing_keys
WHERE retire_at > $1 ORDER BY created_at DESC, id`, storage.Time(now))
}

// ReplaceSigningKeyPrivate implements core.KeyStore.
func (s *Store) ReplaceSigningKeyPrivate(ctx context.Context, id, from, to string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE signing_keys SET private_key = $1 WHERE id = $2 AND private_key = $3`, to, id, from)
	if err != nil {
		return storage.Fault(err, "signing key")
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("replace signing key: %w", err)
	} else if n == 0 {
		return fault.Errorf(fault.NotFound, "Signing key %q does not hold that private key.", id)
	}
	return nil
}

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

// RevokeFamily implements core.SessionStore.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL`,
		storage.Time(now), familyID)
	return storage.Fault(err, "refresh token")
}

// RevokeUserSessions implements core.SessionStore.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
		storage.Time(now), userID)
	return storage.Fault(err, "refresh token")
}

// AppendAudit implements core.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, e *core.AuditEntry) error {
	e.ID, e.CreatedAt = newID(), s.now()
	details := "{}"
	if len(e.Details) > 0 && json.Valid(e.Details) {
		details = string(e.Details)
	}
	e.Details = json.RawMessage(details)
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (id, tenant_id, actor_id, actor_name, action, object_type, object_id,
	details, remote_addr, request_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.ID, e.TenantID, e.ActorID, e.ActorName, e.Action, e.ObjectType, e.ObjectID, details, e.RemoteAddr, e.RequestID, storage.Time(e.CreatedAt))
	return storage.Fault(err, "audit entry")
}

// ListAudit implements core.AuditStore.
func (s *Store) ListAudit(ctx context.Context, f core.AuditFilter) ([]*core.AuditEntry, error) {
	var q setter
	where := "TRUE"
	if f.TenantID != nil {
		where += " AND tenant_id = " + q.arg(*f.TenantID)
	}
	if f.Before != nil {
		where += " AND created_at < " + q.arg(storage.Time(*f.Before))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	return scanAll(ctx, s.db, "audit entry", func(r rowScanner) (*core.AuditEntry, error) {
		var e core.AuditEntry
		var details []byte
		if err := r.Scan(&e.ID, &e.TenantID, &e.ActorID, &e.ActorName, &e.Action, &e.ObjectType, &e.ObjectID, &details,
			&e.RemoteAddr, &e.RequestID, (*storage.Time)(&e.CreatedAt)); err != nil {
			return nil, fmt.Errorf("scan audit entry: %w", err)
		}
		e.Details = json.RawMessage(details)
		return &e, nil
	}, `SELECT id, tenant_id, actor_id, actor_name, action, object_type, object_id, details, remote_addr, request_id, created_at
FROM audit_log WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT `+q.arg(limit), q.args...)
}
