// Package sqlstore implements core.Store on the storage layer, for both SQLite
// and PostgreSQL, and applies the core service's migrations on Open.
//
// Every query is one SQL text for both engines. Uniqueness, foreign keys and
// JSON shape are enforced by the schema, so concurrent writers cannot break
// them; the store turns the engine's refusals into fault errors that name
// the object and field involved. Input is checked with the core types'
// Validate methods first, so that both engines reject the same things.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
)

// Store is a core.Store on a SQL database. It is safe for concurrent use.
type Store struct {
	db  *storage.DB
	now func() time.Time
	// bytewise follows a text column in ORDER BY so that both engines sort
	// by bytes, whatever the PostgreSQL database's collation.
	bytewise string
	// onChange announces committed changes (OnChange).
	onChange atomic.Pointer[func(revision int64)]
}

// Open opens the database opts names, applies the core service's migrations
// and returns a Store on it. Close the Store to close the database.
func Open(ctx context.Context, opts storage.Options) (*Store, error) {
	db, err := storage.OpenService(ctx, "core", opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, now: storage.Now}
	if db.Dialect == storage.Postgres {
		s.bytewise = ` COLLATE "C"`
	}
	return s, nil
}

// DB returns the underlying database (for readiness checks).
func (s *Store) DB() *storage.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanAll collects the rows of q, scanned by scan; what names the objects in
// errors.
func scanAll[T any](ctx context.Context, q querier, what string, scan func(rowScanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, storage.Fault(err, what)
	}
	defer rows.Close()
	list := []*T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %ss: %w", what, err)
	}
	return list, nil
}

// querier is a *storage.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// setter builds the SET list of an UPDATE with numbered placeholders.
type setter struct {
	sets []string
	args []any
}

func (u *setter) set(column string, v any) {
	u.args = append(u.args, v)
	u.sets = append(u.sets, fmt.Sprintf("%s = $%d", column, len(u.args)))
}

// arg appends v as the next argument and returns its placeholder.
func (u *setter) arg(v any) string {
	u.args = append(u.args, v)
	return fmt.Sprintf("$%d", len(u.args))
}

// checkRows turns an UPDATE or DELETE result that touched no row into
// not_found with message.
func checkRows(res sql.Result, err error, what, message string) error {
	if err != nil {
		return storage.Fault(err, what)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: rows affected: %w", what, err)
	} else if n == 0 {
		return fault.Errorf(fault.NotFound, "%s", message)
	}
	return nil
}

// jsonList encodes a list of strings as a JSON array, never null.
func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// decodeList decodes a JSON array column.
func decodeList(b []byte, what string) ([]string, error) {
	list := []string{}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return list, nil
}

// jsonObject returns raw as stored text; empty and null become {}. raw must
// have passed core validation.
func jsonObject(raw json.RawMessage) string {
	if s := strings.TrimSpace(string(raw)); s != "" && s != "null" {
		return s
	}
	return "{}"
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// violated reports whether err, already passed through storage.Interpret, is
// a violation of kind whose engine message mentions constraint (a column or
// index name: both engines name them in the message).
func violated(err, kind error, constraint string) bool {
	return errors.Is(err, kind) && strings.Contains(err.Error(), constraint)
}

var _ core.Store = (*Store)(nil)
