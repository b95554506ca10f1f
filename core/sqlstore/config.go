package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
)

// deletedValue is the value of a deleted entry and of a deleting version.
const deletedValue = "null"

// configEntrySelect reads current entries with the name of the author of
// their current version, which only the version row keeps.
const configEntrySelect = `SELECT e.scope, e.service, e.key, e.value, e.version, e.created_at, e.updated_at, e.updated_by,
v.author_name FROM config_entries e JOIN config_versions v ON v.entry_id = e.id AND v.version = e.version`

// configVersionSelect reads versions with the address of their entry.
const configVersionSelect = `SELECT e.scope, e.service, e.key, v.version, v.value, v.deleted, v.author_id, v.author_name,
v.comment, v.created_at FROM config_versions v JOIN config_entries e ON e.id = v.entry_id`

// configRow is an entry row as a write transaction locks it.
type configRow struct {
	id        string
	version   int
	deleted   bool
	createdAt time.Time
}

// PutConfig implements core.ConfigStore. A writer first locks the entry's
// row (PostgreSQL: SELECT … FOR UPDATE; SQLite: the write lock taken at
// BEGIN), so that the version check and the write are one atomic step; a
// new entry is inserted with ON CONFLICT DO NOTHING, and a writer that
// loses that race goes on as an update of the winner's row.
func (s *Store) PutConfig(ctx context.Context, e *core.ConfigEntry, expectVersion *int, author core.Author, comment string) (*core.ConfigEntry, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := core.ValidateConfigComment(comment); err != nil {
		return nil, err
	}
	var out *core.ConfigEntry
	err := s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		if err := s.checkScope(ctx, tx, e.Scope); err != nil {
			return err
		}
		now := s.now()
		out = &core.ConfigEntry{Scope: e.Scope, Service: e.Service, Key: e.Key, Value: json.RawMessage(string(e.Value)),
			CreatedAt: now, UpdatedAt: now, UpdatedBy: author}
		for attempt := 0; ; attempt++ {
			cur, err := s.lockConfig(ctx, tx, e.Scope, e.Service, e.Key)
			if err != nil {
				return err
			}
			if err := checkExpected(cur, expectVersion, e.Service, e.Key); err != nil {
				return err
			}
			if cur != nil {
				out.Version, out.Created = cur.version+1, cur.deleted
				if !cur.deleted {
					out.CreatedAt = cur.createdAt
				}
				if err := s.updateConfig(ctx, tx, cur, out, string(e.Value), false); err != nil {
					return err
				}
				if err := s.addConfigVersion(ctx, tx, cur.id, out.Version, string(e.Value), false, author, comment, now); err != nil {
					return err
				}
				return configChange(ctx, log, out, false)
			}
			if attempt > 0 {
				return fmt.Errorf("put config %s/%s: entry neither insertable nor found", e.Service, e.Key)
			}
			id := newID()
			err = tx.QueryRowContext(ctx, `INSERT INTO config_entries
(id, scope, service, key, value, version, deleted, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7, $8) ON CONFLICT (scope, service, key) DO NOTHING RETURNING id`,
				id, e.Scope, e.Service, e.Key, string(e.Value), false, storage.Time(now), author.ID).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue // a concurrent writer created it first: write after it
			}
			if err != nil {
				return storage.Fault(err, "configuration entry")
			}
			out.Version, out.Created = 1, true
			if err := s.addConfigVersion(ctx, tx, id, 1, string(e.Value), false, author, comment, now); err != nil {
				return err
			}
			return configChange(ctx, log, out, false)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteConfig implements core.ConfigStore. The returned entry is the
// deleting version: Version is its number, Value is JSON null and
// UpdatedBy is author.
func (s *Store) DeleteConfig(ctx context.Context, scope, service, key string, expectVersion *int, author core.Author) (*core.ConfigEntry, error) {
	var out *core.ConfigEntry
	err := s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		cur, err := s.lockConfig(ctx, tx, scope, service, key)
		if err != nil {
			return err
		}
		if cur == nil || cur.deleted {
			return configNotFound(service, key)
		}
		if err := checkExpected(cur, expectVersion, service, key); err != nil {
			return err
		}
		now := s.now()
		out = &core.ConfigEntry{Scope: scope, Service: service, Key: key, Value: json.RawMessage(deletedValue),
			Version: cur.version + 1, CreatedAt: cur.createdAt, UpdatedAt: now, UpdatedBy: author}
		if err := s.updateConfig(ctx, tx, cur, out, deletedValue, true); err != nil {
			return err
		}
		if err := s.addConfigVersion(ctx, tx, cur.id, out.Version, deletedValue, true, author, "", now); err != nil {
			return err
		}
		return configChange(ctx, log, out, true)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// configChange appends the config event of a write of e, when e is a
// global entry under a reserved key (the platform's own settings, which
// gateways follow).
func configChange(ctx context.Context, log *changeLog, e *core.ConfigEntry, deleted bool) error {
	if e.Scope != "" || !strings.HasPrefix(e.Key, corefeed.ReservedKeyPrefix) {
		return nil
	}
	ev := corefeed.Event{Kind: corefeed.Config, Service: e.Service, Key: e.Key, Version: e.Version, Deleted: deleted}
	if !deleted {
		ev.Value = e.Value
	}
	return log.append(ctx, ev)
}

// checkScope checks that a tenant scope names an existing tenant.
func (s *Store) checkScope(ctx context.Context, tx *sql.Tx, scope string) error {
	if scope == "" {
		return nil
	}
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM tenants WHERE id = $1`, scope).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fault.Errorf(fault.NotFound, "Tenant %q not found.", scope)
	}
	return storage.Fault(err, "tenant")
}

// lockConfig returns the entry row at an address, locked for the rest of
// tx, or nil when there is none.
func (s *Store) lockConfig(ctx context.Context, tx *sql.Tx, scope, service, key string) (*configRow, error) {
	var r configRow
	err := tx.QueryRowContext(ctx, `SELECT id, version, deleted, created_at FROM config_entries
WHERE scope = $1 AND service = $2 AND key = $3`+s.forUpdate(), scope, service, key).
		Scan(&r.id, &r.version, &r.deleted, (*storage.Time)(&r.createdAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, storage.Fault(err, "configuration entry")
	}
	return &r, nil
}

// checkExpected checks expectVersion against the locked row cur (nil: no
// entry); see core.ConfigStore.
func checkExpected(cur *configRow, expectVersion *int, service, key string) error {
	if expectVersion == nil {
		return nil
	}
	exists := cur != nil && !cur.deleted
	switch want := *expectVersion; {
	case want < 0:
		return fault.InvalidFields("Invalid expected version.", map[string]string{"version": "must not be negative"})
	case want == 0 && exists:
		return fault.Errorf(fault.Precondition, "Configuration key %q of service %q already exists (version %d).", key, service, cur.version)
	case want > 0 && !exists:
		return fault.Errorf(fault.Precondition, "Configuration key %q of service %q does not exist, so it is not at version %d.", key, service, want)
	case want > 0 && cur.version != want:
		return fault.Errorf(fault.Precondition, "Configuration key %q of service %q is at version %d, not %d.", key, service, cur.version, want)
	}
	return nil
}

// updateConfig moves the locked row cur to the version out holds.
func (s *Store) updateConfig(ctx context.Context, tx *sql.Tx, cur *configRow, out *core.ConfigEntry, value string, deleted bool) error {
	res, err := tx.ExecContext(ctx, `UPDATE config_entries
SET value = $1, version = $2, deleted = $3, created_at = $4, updated_at = $5, updated_by = $6 WHERE id = $7 AND version = $8`,
		value, out.Version, deleted, storage.Time(out.CreatedAt), storage.Time(out.UpdatedAt), out.UpdatedBy.ID, cur.id, cur.version)
	if err != nil {
		return storage.Fault(err, "configuration entry")
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update configuration entry: rows affected: %w", err)
	} else if n != 1 { // the row lock makes this unreachable; never write over another version
		return fault.Errorf(fault.Precondition, "Configuration key %q of service %q changed meanwhile.", out.Key, out.Service)
	}
	return nil
}

func (s *Store) addConfigVersion(ctx context.Context, tx *sql.Tx, entryID string, version int, value string, deleted bool,
	author core.Author, comment string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO config_versions
(entry_id, version, value, deleted, author_id, author_name, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		entryID, version, value, deleted, author.ID, author.Name, comment, storage.Time(at))
	return storage.Fault(err, "configuration version")
}

// GetConfig implements core.ConfigStore.
func (s *Store) GetConfig(ctx context.Context, scope, service, key string) (*core.ConfigEntry, error) {
	e, err := scanConfigEntry(s.db.QueryRowContext(ctx, configEntrySelect+`
WHERE e.scope = $1 AND e.service = $2 AND e.key = $3 AND e.deleted = $4`, scope, service, key, false))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, configNotFound(service, key)
	}
	return e, err
}

// ListConfig implements core.ConfigStore.
func (s *Store) ListConfig(ctx context.Context, f core.ConfigFilter) ([]*core.ConfigEntry, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var q setter
	where := []string{"e.deleted = " + q.arg(false)}
	if f.Scope != nil {
		where = append(where, "e.scope = "+q.arg(*f.Scope))
	}
	if f.Service != "" {
		where = append(where, "e.service = "+q.arg(f.Service))
	}
	if f.Prefix != "" {
		// Not LIKE: SQLite's LIKE ignores ASCII case, and the prefix would
		// need its wildcards escaped.
		n := q.arg(utf8.RuneCountInString(f.Prefix))
		where = append(where, "substr(e.key, 1, "+n+") = "+q.arg(f.Prefix))
	}
	return scanAll(ctx, s.db, "configuration entry", scanConfigEntry, configEntrySelect+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY e.scope`+s.bytewise+`, e.service`+s.bytewise+`, e.key`+s.bytewise, q.args...)
}

// ConfigHistory implements core.ConfigStore.
func (s *Store) ConfigHistory(ctx context.Context, scope, service, key string) ([]*core.ConfigVersion, error) {
	list, err := scanAll(ctx, s.db, "configuration version", scanConfigVersion, configVersionSelect+`
WHERE e.scope = $1 AND e.service = $2 AND e.key = $3 ORDER BY v.version DESC`, scope, service, key)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 { // an entry always has a version
		return nil, configNotFound(service, key)
	}
	return list, nil
}

// ConfigVersionAt implements core.ConfigStore.
func (s *Store) ConfigVersionAt(ctx context.Context, scope, service, key string, version int) (*core.ConfigVersion, error) {
	v, err := scanConfigVersion(s.db.QueryRowContext(ctx, configVersionSelect+`
WHERE e.scope = $1 AND e.service = $2 AND e.key = $3 AND v.version = $4`, scope, service, key, version))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "Configuration key %q of service %q has no version %d.", key, service, version)
	}
	return v, err
}

func configNotFound(service, key string) error {
	return fault.Errorf(fault.NotFound, "Configuration key %q of service %q not found.", key, service)
}

// scanConfigEntry reads one row of configEntrySelect. It returns an error
// wrapping storage.ErrNotFound when row is an empty *sql.Row.
func scanConfigEntry(row rowScanner) (*core.ConfigEntry, error) {
	var e core.ConfigEntry
	var value string
	err := row.Scan(&e.Scope, &e.Service, &e.Key, &value, &e.Version, (*storage.Time)(&e.CreatedAt),
		(*storage.Time)(&e.UpdatedAt), &e.UpdatedBy.ID, &e.UpdatedBy.Name)
	if err != nil {
		if err := storage.Interpret(err); errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, storage.Fault(err, "configuration entry")
	}
	e.Value = json.RawMessage(value)
	return &e, nil
}

// scanConfigVersion reads one row of configVersionSelect, like
// scanConfigEntry.
func scanConfigVersion(row rowScanner) (*core.ConfigVersion, error) {
	var v core.ConfigVersion
	var value string
	err := row.Scan(&v.Scope, &v.Service, &v.Key, &v.Version, &value, &v.Deleted, &v.Author.ID, &v.Author.Name,
		&v.Comment, (*storage.Time)(&v.CreatedAt))
	if err != nil {
		if err := storage.Interpret(err); errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, storage.Fault(err, "configuration version")
	}
	v.Value = json.RawMessage(value)
	return &v, nil
}
