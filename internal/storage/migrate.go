package storage

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/plugboard/plugboard/migrations"
)

// migrationName is NNNNN_description.sql.
var migrationName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

// tableName keeps the version table's name safe to splice into SQL.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Migrate applies, in version order, the migrations in fsys that the table
// named by table does not record yet, all in one transaction. It is safe to
// run twice and from two processes at once: PostgreSQL serialises runs with a
// transaction-scoped advisory lock, SQLite with its write lock (IMMEDIATE
// transactions). It returns the versions it applied.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS, table string) ([]int, error) {
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("migrate: bad version table name %q", table)
	}
	type migration struct {
		version int
		name    string
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: list migrations: %w", err)
	}
	var all []migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrate: version %d used by %s and %s", v, prev, e.Name())
		}
		seen[v] = e.Name()
		all = append(all, migration{v, e.Name()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })

	var applied []int
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		if db.Dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || $1))`, table); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
			version BIGINT PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("create %s: %w", table, err)
		}
		done := map[int]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM `+table)
		if err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("read %s: %w", table, err)
			}
			done[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		for _, m := range all {
			if done[m.version] {
				continue
			}
			body, err := fs.ReadFile(fsys, m.name)
			if err != nil {
				return fmt.Errorf("read %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
			now, _ := Time(Now()).Value()
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, name, applied_at) VALUES ($1, $2, $3)`, m.version, m.name, now); err != nil {
				return fmt.Errorf("record %s: %w", m.name, err)
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", db.Location, err)
	}
	return applied, nil
}

// OpenService opens the database opts names (opts.Name defaults to service)
// and applies service's embedded migrations (migrations.FS) for its dialect,
// recording them in the table <service>_schema_migrations. Close the DB when
// done.
func OpenService(ctx context.Context, service string, opts Options) (*DB, error) {
	if opts.Name == "" {
		opts.Name = service
	}
	db, err := Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	fsys, err := migrations.FS(service, string(db.Dialect))
	if err == nil {
		_, err = db.Migrate(ctx, fsys, service+"_schema_migrations")
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
