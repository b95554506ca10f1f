package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/internal/testenv"
)

// engines opens one fresh database per engine for the calling test.
var engines = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "test.db") }},
	{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

var testMigrations = fstest.MapFS{
	"00001_things.sql": {Data: []byte(`
CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, at TEXT);
CREATE TABLE parts (id TEXT PRIMARY KEY, thing_id TEXT NOT NULL REFERENCES things (id));`)},
	"00002_more.sql": {Data: []byte(`ALTER TABLE things ADD COLUMN size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0);`)},
	"README":         {Data: []byte("not a migration")},
}

func TestStorage(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			url := e.url(t)
			open := func(t *testing.T) *storage.DB {
				db, err := storage.Open(ctx, storage.Options{URL: url})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}

			t.Run("MigrateTwiceAndConcurrently", func(t *testing.T) {
				var wg sync.WaitGroup
				total := make(chan int, 4)
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						db := open(t) // a separate pool, as a second process would have
						applied, err := db.Migrate(ctx, testMigrations, "test_migrations")
						if err != nil {
							t.Error(err)
						}
						total <- len(applied)
					}()
				}
				wg.Wait()
				close(total)
				sum := 0
				for n := range total {
					sum += n
				}
				if sum != 2 {
					t.Fatalf("concurrent runs applied %d migrations in all, want 2", sum)
				}
				applied, err := open(t).Migrate(ctx, testMigrations, "test_migrations")
				if err != nil || len(applied) != 0 {
					t.Fatalf("third run applied %v, %v", applied, err)
				}
			})

			db := open(t)
			t.Run("Errors", func(t *testing.T) {
				exec := func(q string, args ...any) error {
					_, err := db.ExecContext(ctx, q, args...)
					return storage.Interpret(err)
				}
				if err := exec(`INSERT INTO things (id, name) VALUES ($1, $2)`, "1", "a"); err != nil {
					t.Fatal(err)
				}
				tests := []struct {
					name string
					err  error
					want error
				}{
					{"unique", exec(`INSERT INTO things (id, name) VALUES ($1, $2)`, "2", "a"), storage.ErrUnique},
					{"primary key", exec(`INSERT INTO things (id, name) VALUES ($1, $2)`, "1", "b"), storage.ErrUnique},
					{"foreign key", exec(`INSERT INTO parts (id, thing_id) VALUES ($1, $2)`, "p", "nope"), storage.ErrForeignKey},
					{"check", exec(`UPDATE things SET size = -1`), storage.ErrCheck},
					{"not null", exec(`INSERT INTO things (id) VALUES ($1)`, "3"), storage.ErrCheck},
				}
				for _, tc := range tests {
					if !errors.Is(tc.err, tc.want) {
						t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
					}
				}
				var name string
				err := storage.Interpret(db.QueryRowContext(ctx, `SELECT name FROM things WHERE id = $1`, "404").Scan(&name))
				if !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("no rows: err = %v", err)
				}
			})

			t.Run("TimeRoundTripsInUTC", func(t *testing.T) {
				local := time.Date(2026, 3, 1, 10, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
				if _, err := db.ExecContext(ctx, `INSERT INTO things (id, name, at) VALUES ($1, $2, $3)`, "t", "timed", storage.Time(local)); err != nil {
					t.Fatal(err)
				}
				var got time.Time
				if err := db.QueryRowContext(ctx, `SELECT at FROM things WHERE id = $1`, "t").Scan((*storage.Time)(&got)); err != nil {
					t.Fatal(err)
				}
				if !got.Equal(local.Truncate(time.Microsecond)) || got.Location() != time.UTC {
					t.Fatalf("got %v, want %v in UTC", got, local)
				}
			})

			t.Run("InTxRollsBack", func(t *testing.T) {
				boom := errors.New("boom")
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO things (id, name) VALUES ('rb', 'rolled back')`); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatalf("InTx = %v", err)
				}
				var n int
				_ = db.QueryRowContext(ctx, `SELECT count(*) FROM things WHERE id = 'rb'`).Scan(&n)
				if n != 0 {
					t.Fatal("a failed transaction left its row behind")
				}
			})
		})
	}
}

func TestOpenDefaultsToSQLiteInDataDir(t *testing.T) {
	dir := t.TempDir()
	db, err := storage.Open(context.Background(), storage.Options{DataDir: filepath.Join(dir, "nested"), Name: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Dialect != storage.SQLite || db.Location != "sqlite:"+filepath.Join(dir, "nested", "svc.db") {
		t.Fatalf("opened %s %s", db.Dialect, db.Location)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	var fk int
	if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
}

func TestOpenRejectsUnknownScheme(t *testing.T) {
	_, err := storage.Open(context.Background(), storage.Options{URL: "mysql://u:secret@h/db"})
	if err == nil {
		t.Fatal("mysql URL accepted")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Fatalf("error leaks the password: %s", got)
	}
}
