// Package storage opens the relational database a Plugboard service keeps its
// durable state in, applies that service's migrations, and maps driver errors
// to typed ones.
//
// Two engines sit behind one *sql.DB:
//   - SQLite (the embedded default): a file under the data directory, through
//     the pure-Go modernc.org/sqlite driver, in WAL mode with a busy timeout,
//     foreign keys on and IMMEDIATE write transactions;
//   - PostgreSQL (production): a pgx/v5 connection pool, exposed as *sql.DB
//     through pgx's stdlib adapter.
//
// Store code writes one SQL text for both engines: `$1`-style placeholders
// (which SQLite accepts as ordinals), ON CONFLICT upserts and RETURNING are
// common to both. Where the dialects differ, a store branches on DB.Dialect.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a database engine.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database of one engine. It is safe for concurrent use.
type DB struct {
	*sql.DB
	// Dialect is the engine behind DB.
	Dialect Dialect
	// Location describes where the data lives, without credentials (for logs).
	Location string

	pool *pgxpool.Pool
}

// Options says which database to open.
type Options struct {
	// URL selects the engine: "postgres://…" or "postgresql://…" opens
	// PostgreSQL; "sqlite:PATH" or "file:PATH" opens that SQLite file; empty
	// opens DataDir/Name.db.
	URL string
	// DataDir is the directory of the default SQLite file; it is created if
	// missing.
	DataDir string
	// Name is the service name, used for the default SQLite file name.
	Name string
	// MaxConns caps the pool (0: the engine's default).
	MaxConns int
}

// Open opens and pings the database that opts describes.
func Open(ctx context.Context, opts Options) (*DB, error) {
	switch {
	case strings.HasPrefix(opts.URL, "postgres://"), strings.HasPrefix(opts.URL, "postgresql://"):
		return openPostgres(ctx, opts)
	case opts.URL == "", strings.HasPrefix(opts.URL, "sqlite:"), strings.HasPrefix(opts.URL, "file:"):
		return openSQLite(ctx, opts)
	default:
		return nil, fmt.Errorf("open database: unsupported URL scheme in %q (want postgres://… or sqlite:PATH)", redact(opts.URL))
	}
}

func openSQLite(ctx context.Context, opts Options) (*DB, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(opts.URL, "sqlite:"), "file:")
	dataDir := ""
	if path == "" {
		if opts.Name == "" {
			return nil, errors.New("open sqlite: no file name")
		}
		dataDir = opts.DataDir
		if dataDir == "" {
			dataDir = "data"
		}
		path = filepath.Join(dataDir, opts.Name+".db")
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] // our own pragmas below are not negotiable
	}
	if err := PrivateDir(filepath.Dir(path), dataDir != ""); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// The file is created (or narrowed) to 0600 before SQLite opens it:
	// SQLite gives the -wal and -shm files it creates the database file's
	// mode, whatever the umask.
	if err := privateFile(path); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)") // first, so the pragmas below wait for locks too
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := opts.MaxConns
	if n <= 0 {
		n = 8
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(0)
	// Switching a new file to WAL needs an exclusive lock for which SQLite
	// does not always call the busy handler, so a second process opening the
	// same new file can get SQLITE_BUSY here: retry for a while.
	for attempt := 0; ; attempt++ {
		err = db.PingContext(ctx)
		if err == nil {
			break
		}
		var sqErr *sqlite.Error
		if !errors.As(err, &sqErr) || sqErr.Code()&0xff != sqlite3.SQLITE_BUSY || attempt >= 100 {
			db.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	// -wal and -shm files an older version left with a wider mode.
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("open sqlite: restrict %s: %w", path+suffix, err)
		}
	}
	return &DB{DB: db, Dialect: SQLite, Location: "sqlite:" + path}, nil
}

// PrivateDir creates dir (and its parents) if missing, with mode 0700.
// With own, dir is the service's data directory and an existing one is
// narrowed to 0700 too, if this process may; otherwise an existing
// directory is left as it is (it may be shared, such as /var/lib).
func PrivateDir(dir string, own bool) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil { // whatever the umask
			return fmt.Errorf("restrict data directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("data directory %s is not a directory", dir)
	case own && fi.Mode().Perm()&0o077 != 0:
		// A directory someone else owns (a volume mounted with a group for
		// us, say) is left as it is: the files in it are 0600 anyway.
		if err := os.Chmod(dir, 0o700); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("restrict data directory: %w", err)
		}
	}
	return nil
}

// privateFile creates path with mode 0600 if missing, and narrows it to
// 0600 if it exists.
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if fi.Mode().Perm() != 0o600 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("restrict %s: %w", path, err)
		}
	}
	return nil
}

func openPostgres(ctx context.Context, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse PLUGBOARD_DATABASE_URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(opts.URL), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(opts.URL), err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return &DB{DB: db, Dialect: Postgres, Location: redact(opts.URL), pool: pool}, nil
}

// Close closes the database and its pool.
func (db *DB) Close() error {
	err := db.DB.Close()
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

// InTx runs fn inside a transaction, committing when fn returns nil and
// rolling back otherwise. On SQLite the transaction takes the write lock at
// BEGIN, so concurrent writers queue instead of failing.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Interpret(fmt.Errorf("begin transaction: %w", err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return Interpret(fmt.Errorf("commit transaction: %w", err))
	}
	return nil
}

// redact removes the password from a database URL, for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}
