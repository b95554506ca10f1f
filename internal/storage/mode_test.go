//go:build unix

package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/plugboard/plugboard/internal/storage"
)

// TestSQLiteFilesArePrivate performs issue 11 finding 17 on the files: with
// a permissive umask, the data directory, the database and its -wal and
// -shm files used to be readable by every local user (0755/0644). Now the
// directory is 0700 and the files 0600, whatever the umask, and files an
// older version left world-readable are narrowed on open.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	check := func(t *testing.T, path string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", filepath.Base(path), got, want)
		}
	}
	open := func(t *testing.T, dir string) *storage.DB {
		t.Helper()
		db, err := storage.Open(context.Background(), storage.Options{DataDir: dir, Name: "svc"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (x INTEGER); INSERT INTO t VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		return db
	}
	t.Run("new", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		db := open(t, dir)
		defer db.Close()
		check(t, dir, 0o700)
		for _, f := range []string{"svc.db", "svc.db-wal", "svc.db-shm"} {
			check(t, filepath.Join(dir, f), 0o600)
		}
	})
	t.Run("existing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"svc.db", "svc.db-wal", "svc.db-shm"} {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db := open(t, dir)
		defer db.Close()
		check(t, dir, 0o700)
		for _, f := range []string{"svc.db", "svc.db-wal", "svc.db-shm"} {
			check(t, filepath.Join(dir, f), 0o600)
		}
	})
	t.Run("explicit path in a shared directory", func(t *testing.T) {
		shared := t.TempDir()
		if err := os.Chmod(shared, 0o755); err != nil {
			t.Fatal(err)
		}
		db, err := storage.Open(context.Background(), storage.Options{URL: "sqlite:" + filepath.Join(shared, "x.db")})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		check(t, shared, 0o755) // not ours to narrow
		check(t, filepath.Join(shared, "x.db"), 0o600)
	})
}
