package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
)

const apiKeyColumns = `id, tenant_id, user_id, name, prefix, key_hash, scopes, expires_at, last_used, revoked_at, created_at, rate_limit`

// CreateAPIKey implements core.APIKeyStore.
func (s *Store) CreateAPIKey(ctx context.Context, k *core.APIKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if k.UserID != "" {
		// The schema cannot tie the key's user to the key's tenant; a user's
		// tenant never changes, so checking before the insert is enough (a
		// user deleted in between fails the insert's foreign key).
		var tenantID string
		err := s.db.QueryRowContext(ctx, `SELECT tenant_id FROM users WHERE id = $1`, k.UserID).Scan(&tenantID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return storage.Fault(err, "API key")
		}
		if tenantID != k.TenantID {
			return userNotInTenant(err, k.UserID)
		}
	}
	id, now := newID(), s.now()
	scopes := jsonList(k.Scopes)
	quota, err := rateLimitColumn(k.RateLimit)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `
INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, scopes, expires_at, last_used, revoked_at, created_at, rate_limit)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		id, k.TenantID, nullString(k.UserID), k.Name, k.Prefix, k.KeyHash, scopes,
		storage.Nullable(&k.ExpiresAt), storage.Nullable(&k.LastUsed), storage.Nullable(&k.RevokedAt), storage.Time(now), quota)
	if err != nil {
		return apiKeyError(err, k)
	}
	k.ID, k.CreatedAt = id, now
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	for _, p := range []**time.Time{&k.ExpiresAt, &k.LastUsed, &k.RevokedAt} {
		if *p != nil {
			t := (*p).UTC().Truncate(time.Microsecond)
			*p = &t
		}
	}
	return nil
}

// GetAPIKey implements core.APIKeyStore.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*core.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "API key %q not found.", id)
	}
	return k, err
}

// GetAPIKeyByHash implements core.APIKeyStore.
func (s *Store) GetAPIKeyByHash(ctx context.Context, keyHash string) (*core.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = $1`, keyHash))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "API key not found.") // never echo a secret's hash
	}
	return k, err
}

// ListAPIKeys implements core.APIKeyStore.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID string) ([]*core.APIKey, error) {
	return scanAll(ctx, s.db, "API key", scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY name`+s.bytewise+`, id`, tenantID)
}

// RevokeAPIKey implements core.APIKeyStore. Only the first revocation
// appends an apikey.revoked event.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, t time.Time) error {
	return s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		var tenantID string
		var userID sql.Null[string]
		err := tx.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING tenant_id, user_id`,
			storage.Time(t), id).Scan(&tenantID, &userID)
		if errors.Is(err, sql.ErrNoRows) {
			var found string
			err = tx.QueryRowContext(ctx, `SELECT id FROM api_keys WHERE id = $1`, id).Scan(&found)
			if errors.Is(err, sql.ErrNoRows) {
				return fault.Errorf(fault.NotFound, "API key %q not found.", id)
			}
			return storage.Fault(err, "API key") // revoked already
		}
		if err != nil {
			return storage.Fault(err, "API key")
		}
		return log.append(ctx, corefeed.Event{Kind: corefeed.APIKeyRevoked, KeyID: id, UserID: userID.V, TenantID: tenantID})
	})
}

// TouchAPIKeys implements core.APIKeyStore. Keys are updated in ID order, so
// that two flushers lock rows in the same order and cannot deadlock.
func (s *Store) TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	ids := make([]string, 0, len(lastUsed))
	for id := range lastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			_, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used = $1
WHERE id = $2 AND (last_used IS NULL OR last_used < $1)`, storage.Time(lastUsed[id]), id)
			if err != nil {
				return storage.Fault(err, "API key")
			}
		}
		return nil
	})
}

// apiKeyError maps a failed insert of k.
func apiKeyError(err error, k *core.APIKey) error {
	err = storage.Interpret(err)
	switch {
	case violated(err, storage.ErrUnique, "key_hash"):
		return fault.Wrap(err, fault.Conflict, "An API key with this secret already exists.")
	case violated(err, storage.ErrUnique, "prefix"):
		return fault.Wrap(err, fault.Conflict, fmt.Sprintf("An API key with prefix %q already exists.", k.Prefix))
	case violated(err, storage.ErrUnique, "name"):
		return fault.Wrap(err, fault.Conflict, fmt.Sprintf("An API key named %q already exists in this tenant.", k.Name))
	case errors.Is(err, storage.ErrForeignKey) && k.UserID != "":
		// The user was checked to be in the tenant, so the tenant exists as
		// long as the user does: the user went away.
		return userNotInTenant(err, k.UserID)
	case errors.Is(err, storage.ErrForeignKey):
		return fault.Wrap(err, fault.NotFound, fmt.Sprintf("Tenant %q not found.", k.TenantID))
	}
	return storage.Fault(err, "API key")
}

// userNotInTenant is the error for a key whose user is missing or belongs to
// another tenant; the two are not told apart, so as not to reveal other
// tenants' users.
func userNotInTenant(cause error, userID string) error {
	return &fault.Error{Code: fault.NotFound, Message: fmt.Sprintf("User %q not found in this tenant.", userID),
		Fields: map[string]string{"user_id": "is not a user of this tenant"}, Err: cause}
}

// scanAPIKey reads one API key row. It returns an error wrapping
// storage.ErrNotFound when row is an empty *sql.Row.
func scanAPIKey(row rowScanner) (*core.APIKey, error) {
	var k core.APIKey
	var userID sql.Null[string]
	var scopes []byte
	var rl sql.Null[[]byte]
	err := row.Scan(&k.ID, &k.TenantID, &userID, &k.Name, &k.Prefix, &k.KeyHash, &scopes,
		storage.Nullable(&k.ExpiresAt), storage.Nullable(&k.LastUsed), storage.Nullable(&k.RevokedAt),
		(*storage.Time)(&k.CreatedAt), &rl)
	if err != nil {
		if err := storage.Interpret(err); errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, storage.Fault(err, "API key")
	}
	k.UserID = userID.V
	if k.Scopes, err = decodeList(scopes, "scopes of API key "+k.ID); err != nil {
		return nil, err
	}
	if k.RateLimit, err = decodeRateLimit(rl, "rate_limit of API key "+k.ID); err != nil {
		return nil, err
	}
	return &k, nil
}
