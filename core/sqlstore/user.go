package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
)

const userColumns = `id, tenant_id, username, email, hashed_password, role, is_active, created_at, updated_at, last_login`

// CreateUser implements core.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *core.User) error {
	u.Username = core.NormalizeHandle(u.Username)
	if err := u.Validate(); err != nil {
		return err
	}
	id, now := newID(), s.now()
	_, err := s.db.ExecContext(ctx, `
INSERT INTO users (id, tenant_id, username, email, hashed_password, role, is_active, created_at, updated_at, last_login)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)`,
		id, u.TenantID, u.Username, u.Email, u.HashedPassword, string(u.Role), u.IsActive, storage.Time(now),
		storage.Nullable(&u.LastLogin))
	if err != nil {
		return userError(err, u.TenantID, u.Username, u.Email)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, now, now
	if u.LastLogin != nil {
		t := u.LastLogin.UTC().Truncate(time.Microsecond)
		u.LastLogin = &t
	}
	return nil
}

// GetUser implements core.UserStore.
func (s *Store) GetUser(ctx context.Context, id string) (*core.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "User %q not found.", id)
	}
	return u, err
}

// GetUserByUsername implements core.UserStore.
func (s *Store) GetUserByUsername(ctx context.Context, tenantID, username string) (*core.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND username = $2`,
		tenantID, core.NormalizeHandle(username)))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "No user is named %q in this tenant.", username)
	}
	return u, err
}

// ListUsers implements core.UserStore.
func (s *Store) ListUsers(ctx context.Context, f core.UserFilter) ([]*core.User, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var q setter
	var where []string
	if f.TenantID != nil {
		where = append(where, "tenant_id = "+q.arg(*f.TenantID))
	}
	if f.Username != nil {
		where = append(where, "username = "+q.arg(core.NormalizeHandle(*f.Username)))
	}
	if f.Email != nil {
		where = append(where, "lower(email) = lower("+q.arg(*f.Email)+")")
	}
	if f.Role != nil {
		where = append(where, "role = "+q.arg(string(*f.Role)))
	}
	query := `SELECT ` + userColumns + ` FROM users`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY username" + s.bytewise + ", id"
	switch {
	case f.Limit > 0:
		query += " LIMIT " + q.arg(f.Limit)
	case f.Offset > 0 && s.db.Dialect == storage.SQLite:
		query += " LIMIT -1" // SQLite has no OFFSET without LIMIT
	}
	if f.Offset > 0 {
		query += " OFFSET " + q.arg(f.Offset)
	}
	return scanAll(ctx, s.db, "user", scanUser, query, q.args...)
}

// UpdateUser implements core.UserStore.
func (s *Store) UpdateUser(ctx context.Context, id string, u core.UserUpdate) (*core.User, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	var q setter
	if u.Email != nil {
		q.set("email", *u.Email)
	}
	if u.HashedPassword != nil {
		q.set("hashed_password", *u.HashedPassword)
	}
	if u.Role != nil {
		q.set("role", string(*u.Role))
	}
	if u.IsActive != nil {
		q.set("is_active", *u.IsActive)
	}
	if len(q.sets) == 0 {
		return s.GetUser(ctx, id)
	}
	q.set("updated_at", storage.Time(s.now()))
	var user *core.User
	err := s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		before, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.forUpdate(), id))
		if errors.Is(err, storage.ErrNotFound) {
			return fault.Errorf(fault.NotFound, "User %q not found.", id)
		}
		if err != nil {
			return err
		}
		user, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET `+strings.Join(q.sets, ", ")+
			` WHERE id = `+q.arg(id)+` RETURNING `+userColumns, q.args...))
		if err != nil {
			email := ""
			if u.Email != nil {
				email = *u.Email
			}
			return userError(err, "", "", email)
		}
		// Whatever a token or a key of the user was issued under no longer
		// holds: deactivation (or reactivation, which drops cached
		// refusals), a new role, a new password.
		if before.IsActive != user.IsActive || before.Role != user.Role || before.HashedPassword != user.HashedPassword {
			return log.append(ctx, corefeed.Event{Kind: corefeed.UserRevoked, UserID: user.ID, TenantID: user.TenantID})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return user, nil
}

// RecordLogin implements core.UserStore.
func (s *Store) RecordLogin(ctx context.Context, id string, t time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET last_login = $1 WHERE id = $2`, storage.Time(t), id)
	return checkRows(res, err, "user", fmt.Sprintf("User %q not found.", id))
}

// DeleteUser implements core.UserStore. The user's keys are revoked in the
// same transaction: the schema only unlinks them (ON DELETE SET NULL), which
// would otherwise turn them into live tenant-wide keys.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	lock := ""
	if s.db.Dialect == storage.Postgres {
		// Block new keys for the user (their foreign key check takes a
		// KEY SHARE lock) until the user is gone. SQLite's write lock,
		// taken at BEGIN, already serialises all writers.
		lock = " FOR UPDATE"
	}
	return s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		var tenantID string
		err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM users WHERE id = $1`+lock, id).Scan(&tenantID)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.Errorf(fault.NotFound, "User %q not found.", id)
		} else if err != nil {
			return storage.Fault(err, "user")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
			storage.Time(s.now()), id); err != nil {
			return storage.Fault(err, "API key")
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err := checkRows(res, err, "user", fmt.Sprintf("User %q not found.", id)); err != nil {
			return err
		}
		return log.append(ctx, corefeed.Event{Kind: corefeed.UserRevoked, UserID: id, TenantID: tenantID})
	})
}

// CountUsers implements core.UserStore.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, storage.Fault(err, "user")
	}
	return n, nil
}

// userError maps a failed user write. tenantID, username and email are the
// values written, "" where not written.
func userError(err error, tenantID, username, email string) error {
	err = storage.Interpret(err)
	switch {
	case email != "" && violated(err, storage.ErrUnique, "email"):
		return fault.Wrap(err, fault.Conflict, fmt.Sprintf("A user with email %q already exists in this tenant.", email))
	case username != "" && violated(err, storage.ErrUnique, "username"):
		return fault.Wrap(err, fault.Conflict, fmt.Sprintf("A user named %q already exists in this tenant.", username))
	case tenantID != "" && errors.Is(err, storage.ErrForeignKey):
		return fault.Wrap(err, fault.NotFound, fmt.Sprintf("Tenant %q not found.", tenantID))
	}
	return storage.Fault(err, "user")
}

// scanUser reads one user row. It returns an error wrapping
// storage.ErrNotFound when row is an empty *sql.Row.
func scanUser(row rowScanner) (*core.User, error) {
	var u core.User
	var role string
	err := row.Scan(&u.ID, &u.TenantID, &u.Username, &u.Email, &u.HashedPassword, &role, &u.IsActive,
		(*storage.Time)(&u.CreatedAt), (*storage.Time)(&u.UpdatedAt), storage.Nullable(&u.LastLogin))
	if err != nil {
		if err := storage.Interpret(err); errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, storage.Fault(err, "user")
	}
	u.Role = core.Role(role)
	return &u, nil
}
