// Package secretfile keeps a process's generated secrets (the registry
// token, the gateway's signing secret) in files under the data directory:
// read the file when it holds one, otherwise make a random one and keep it,
// readable by the owner only.
package secretfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MinLength is the shortest secret a file may hold; a shorter (or empty)
// file is replaced by a new secret.
const MinLength = 16

// LoadOrCreate returns the secret kept in path and false, or, when the file
// does not exist or holds less than MinLength characters, a new one of
// prefix followed by 64 random hex digits, written to path (mode 0600, its
// directory 0700 when made) and true.
func LoadOrCreate(path, prefix string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= MinLength {
			return s, false, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read secret %s: %w", path, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("make secret %s: %w", path, err)
	}
	secret := prefix + hex.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("keep secret %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("keep secret %s: %w", path, err)
	}
	return secret, true, nil
}

// Read returns a secret another process keeps, and where it came from:
// the environment variable env when set, or else the file name under
// $PLUGBOARD_DATA_DIR (default ./data) when it exists. It is "" (no
// error) when neither holds one; surrounding white space is ignored.
func Read(env, name string) (secret, source string, err error) {
	if secret = strings.TrimSpace(os.Getenv(env)); secret != "" {
		return secret, env, nil
	}
	dir := os.Getenv("PLUGBOARD_DATA_DIR")
	if dir == "" {
		dir = "data"
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), path, nil
}
