package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
)

// CreateSigningKey implements core.KeyStore; a new key appends
// signing_keys.
func (s *Store) CreateSigningKey(ctx context.Context, k *core.SigningKey) error {
	return s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, public_key, created_at, sign_until, retire_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.Algorithm, k.PrivateKey, k.PublicKey,
			storage.Time(k.CreatedAt), storage.Time(k.SignUntil), storage.Time(k.RetireAt)); err != nil {
			return storage.Fault(err, "signing key")
		}
		return log.append(ctx, corefeed.Event{Kind: corefeed.SigningKeys})
	})
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
