package secretfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "x.secret")
	s, created, err := LoadOrCreate(path, "pbx_")
	if err != nil || !created || !strings.HasPrefix(s, "pbx_") || len(s) != 4+64 {
		t.Fatalf("first = %q, %v, %v", s, created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", fi, err)
	}
	again, created, err := LoadOrCreate(path, "pbx_")
	if err != nil || created || again != s {
		t.Fatalf("second = %q, %v, %v; want %q kept", again, created, err, s)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if repl, created, err := LoadOrCreate(path, ""); err != nil || !created || repl == "short" {
		t.Fatalf("short file: %q, %v, %v; want a new secret", repl, created, err)
	}
	if err := os.WriteFile(path, []byte("  operator-chosen-secret-value \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := LoadOrCreate(path, ""); got != "operator-chosen-secret-value" {
		t.Fatalf("operator's file: %q", got)
	}
	if err := os.Chmod(dir, 0o500); err == nil && os.Geteuid() != 0 {
		if _, _, err := LoadOrCreate(filepath.Join(dir, "new"), ""); err == nil {
			t.Fatal("unwritable directory: no error")
		}
	}
}
