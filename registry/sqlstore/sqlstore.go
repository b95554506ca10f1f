// Package sqlstore implements registry.Store on the storage layer, for both
// SQLite and PostgreSQL, and applies the registry's migrations on Open.
package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/registry"
)

// Store is a registry.Store on a SQL database.
type Store struct {
	db  *storage.DB
	now func() time.Time
}

// Open opens the database opts names, applies the registry's migrations and
// returns a Store on it. Close the Store to close the database.
func Open(ctx context.Context, opts storage.Options) (*Store, error) {
	db, err := storage.OpenService(ctx, "registry", opts)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: storage.Now}, nil
}

// DB returns the underlying database (for readiness checks).
func (s *Store) DB() *storage.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

var _ registry.Store = (*Store)(nil)
