package sqlstore_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/plugboard/plugboard/core/sqlstore"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/migrations"
)

// migrateUpTo applies core's migrations before version stop to the
// database url names, as an older core would have.
func migrateUpTo(t *testing.T, url string, stop int) *storage.DB {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	all, err := migrations.FS("core", string(db.Dialect))
	if err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	entries, _ := fs.ReadDir(all, ".")
	for _, e := range entries {
		if v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0]); err == nil && v < stop {
			body, _ := fs.ReadFile(all, e.Name())
			older[e.Name()] = &fstest.MapFile{Data: body}
		}
	}
	if _, err := db.Migrate(ctx, older, "core_schema_migrations"); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestMigrationLowercasesNames takes a database of the version before
// case-insensitive names: mixed-case tenant names and usernames are
// lower-cased on start; names that differ only in case stop the start with
// an error naming them, and change nothing.
func TestMigrationLowercasesNames(t *testing.T) {
	t.Parallel()
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "core.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			seed := func(t *testing.T, db *storage.DB, users ...string) {
				t.Helper()
				now, _ := storage.Time(storage.Now()).Value()
				if _, err := db.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at, updated_at) VALUES ('t1', 'ACME', $1, $1)`, now); err != nil {
					t.Fatal(err)
				}
				for i, u := range users {
					if _, err := db.ExecContext(ctx, `INSERT INTO users (id, tenant_id, username, hashed_password, role, created_at, updated_at)
VALUES ($1, 't1', $2, 'x', 'user', $3, $3)`, "u"+strconv.Itoa(i), u, now); err != nil {
						t.Fatal(err)
					}
				}
			}
			t.Run("lower-cases", func(t *testing.T) {
				url := b.url(t)
				db := migrateUpTo(t, url, 4)
				seed(t, db, "Alice", "bob", "\u00c9mile")
				db.Close()
				s, err := sqlstore.Open(ctx, storage.Options{URL: url})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				tn, err := s.GetTenantByName(ctx, "Acme")
				if err != nil || tn.Name != "acme" {
					t.Fatalf("tenant after the migration: %+v, %v", tn, err)
				}
				for name, want := range map[string]string{"alice": "alice", "ALICE": "alice", "BOB": "bob", "\u00c9MILE": "\u00c9mile"} {
					if u, err := s.GetUserByUsername(ctx, tn.ID, name); err != nil || u.Username != want {
						t.Errorf("GetUserByUsername(%s) = %+v, %v; want %s", name, u, err, want)
					}
				}
			})
			t.Run("refuses collisions", func(t *testing.T) {
				url := b.url(t)
				db := migrateUpTo(t, url, 4)
				seed(t, db, "Alice", "alice", "bob")
				db.Close()
				_, err := sqlstore.Open(ctx, storage.Options{URL: url})
				if err == nil {
					t.Fatal("the migration merged Alice and alice")
				}
				for _, want := range []string{"differ only in case", `"Alice" (u0)`, `"alice" (u1)`, `tenant "ACME"`} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %s", err, want)
					}
				}
				if strings.Contains(err.Error(), "bob") {
					t.Errorf("error names a user that does not collide: %v", err)
				}
				db = migrateUpTo(t, url, 4) // nothing changed: the old schema, the old names
				defer db.Close()
				var n int
				if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE username IN ('Alice', 'alice')`).Scan(&n); err != nil || n != 2 {
					t.Fatalf("after the refused migration: %d, %v", n, err)
				}
			})
		})
	}
}
