package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Extract writes the files of fsys into a directory under dir named by
// their content hash (console-<hash>), and returns that directory. A
// directory already there is reused; a new one is written beside it and
// renamed into place, so a reader never sees half a console.
func Extract(fsys fs.FS, dir string) (string, error) {
	sum, err := hashFS(fsys)
	if err != nil {
		return "", fmt.Errorf("read the embedded console: %w", err)
	}
	dst := filepath.Join(dir, "console-"+sum[:16])
	if _, err := os.Stat(filepath.Join(dst, "index.html")); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("extract the console: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".console-")
	if err != nil {
		return "", fmt.Errorf("extract the console: %w", err)
	}
	if err := os.CopyFS(tmp, fsys); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("extract the console: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.RemoveAll(tmp)
		if _, statErr := os.Stat(filepath.Join(dst, "index.html")); statErr == nil {
			return dst, nil // another gateway on this data directory won the race
		}
		return "", fmt.Errorf("extract the console: %w", err)
	}
	return dst, nil
}

// hashFS is the SHA-256 of every file's path and content, in walk order.
func hashFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	found := false
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		found = true
		f, err := fsys.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", path)
		_, err = io.Copy(h, f)
		return err
	})
	if err == nil && !found {
		err = errors.New("no files")
	}
	return hex.EncodeToString(h.Sum(nil)), err
}
