//go:build unix

package cored_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core/cored"
	"github.com/plugboard/plugboard/core/identity"
	"github.com/plugboard/plugboard/core/sqlstore"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/storage"
)

// openStore opens the core database an environment names.
func openStore(t *testing.T, env map[string]string) *sqlstore.Store {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), storage.Options{URL: env["PLUGBOARD_DATABASE_URL"], DataDir: env["PLUGBOARD_DATA_DIR"], Name: "core"})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// newCore starts a core service without serving it, or returns its error.
func newCore(t *testing.T, env map[string]string) (*cored.Server, error) {
	t.Helper()
	vars := map[string]string{"PLUGBOARD_ADMIN_PASSWORD": adminPassword, "PLUGBOARD_CORE_BCRYPT_COST": "4"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := envconfig.Parse[cored.Config](vars)
	if err != nil {
		t.Fatal(err)
	}
	return cored.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
}

// TestSigningKeysAreSealedAtRest performs issue 11 finding 17 on the
// keys: an install of an earlier version holds an unsealed signing key and
// no master key is configured. On start, core generates a master key file
// (0600) and seals every stored key with it; the database alone — stolen
// without the key file — no longer starts a core that could sign.
func TestSigningKeysAreSealedAtRest(t *testing.T) {
	t.Parallel()
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		env := b.env(t)
		dir := env["PLUGBOARD_DATA_DIR"]

		// What an earlier version left: a key stored unsealed.
		store := openStore(t, env)
		mem := ephemeral.NewMemory()
		legacy, err := identity.New(ctx, store, mem, slog.New(slog.NewTextHandler(io.Discard, nil)), identity.Options{PasswordCost: 4})
		if err != nil {
			t.Fatal(err)
		}
		kid := legacy.JWKS().Keys[0].Kid
		mem.Close()
		store.Close()

		srv, err := newCore(t, env)
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(dir, cored.MasterKeyFile)
		for path, want := range map[string]os.FileMode{dir: 0o700, keyFile: 0o600} {
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Fatalf("%s: %v, %v; want mode %#o", path, fi.Mode(), err, want)
			}
		}
		if b.name == "sqlite" {
			for _, f := range []string{"core.db", "core.db-wal", "core.db-shm"} {
				if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("%s: %v; want mode 0600", f, err)
				}
			}
		}
		srv.Close()

		store = openStore(t, env)
		keys, err := store.ListSigningKeys(ctx, time.Time{})
		store.Close()
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys: %d, %v", len(keys), err)
		}
		found := false
		for _, k := range keys {
			if !identity.Sealed(k.PrivateKey) {
				t.Fatalf("key %s is stored unsealed", k.ID)
			}
			if _, err := (*identity.Sealer)(nil).Open(k.PrivateKey); err == nil {
				t.Fatalf("key %s opened without the master key", k.ID)
			}
			found = found || k.ID == kid
		}
		if !found {
			t.Fatalf("the legacy key %s is gone", kid)
		}

		// The database without the key file: core refuses to start rather
		// than sign with keys it cannot open.
		stolen := map[string]string{}
		for k, v := range env {
			stolen[k] = v
		}
		stolen["PLUGBOARD_DATA_DIR"] = t.TempDir()
		if b.name == "sqlite" {
			raw, err := os.ReadFile(filepath.Join(dir, "core.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(stolen["PLUGBOARD_DATA_DIR"], "core.db"), raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if srv, err := newCore(t, stolen); err == nil {
			srv.Close()
			t.Fatal("a core started on the stolen database without the master key")
		} else if !strings.Contains(err.Error(), "decrypt") {
			t.Fatalf("stolen database: %v", err)
		}
		// With the key file (or its contents in PLUGBOARD_CORE_MASTER_KEY) it starts.
		master, _ := os.ReadFile(keyFile)
		stolen["PLUGBOARD_CORE_MASTER_KEY"] = strings.TrimSpace(string(master))
		srv, err = newCore(t, stolen)
		if err != nil {
			t.Fatalf("with the master key: %v", err)
		}
		srv.Close()
	})
}

// TestMasterKeyFile: a key file left readable by others is narrowed to
// 0600, and one too short to be a key stops the start rather than being
// replaced (which would lose the keys sealed with it).
func TestMasterKeyFile(t *testing.T) {
	t.Parallel()
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	env := backends[0].env(t)
	path := filepath.Join(env["PLUGBOARD_DATA_DIR"], cored.MasterKeyFile)
	if err := os.WriteFile(path, []byte("a master key of some length\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := newCore(t, env)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if srv, err := newCore(t, env); err == nil {
		srv.Close()
		t.Fatal("started with a truncated master key file")
	}
	if b, _ := os.ReadFile(path); string(b) != "short\n" {
		t.Fatalf("the key file was replaced: %q", b)
	}
}
