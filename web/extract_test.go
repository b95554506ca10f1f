package web

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	fsys := fstest.MapFS{
		"index.html":       {Data: []byte("<!doctype html>")},
		"assets/app-1.js":  {Data: []byte("console.log(1)")},
		"assets/app-1.css": {Data: []byte("body{}")},
	}
	got, err := Extract(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(got, "assets", "app-1.js")); err != nil || string(b) != "console.log(1)" {
		t.Fatalf("extracted asset: %q, %v", b, err)
	}
	// The same files again: the same directory, not rewritten.
	again, err := Extract(fsys, dir)
	if err != nil || again != got {
		t.Fatalf("second extract: %q, %v; want %q", again, err, got)
	}
	// Other files: another directory.
	fsys["index.html"] = &fstest.MapFile{Data: []byte("<!doctype html><title>2</title>")}
	other, err := Extract(fsys, dir)
	if err != nil || other == got {
		t.Fatalf("changed console: %q, %v", other, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("left %d entries in %s, want 2 (no temporary directories)", len(entries), dir)
	}
	if _, err := Extract(fstest.MapFS{}, dir); err == nil {
		t.Fatal("an empty console extracted")
	}
}
