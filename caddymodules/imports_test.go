package caddymodules_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestModulesDoNotImportEachOther keeps the gateway's module packages
// from importing one another (issue 13): what they share about a request
// lives in gatewayctx, a leaf.
func TestModulesDoNotImportEachOther(t *testing.T) {
	const prefix = "github.com/plugboard/plugboard/caddymodules/"
	allowed := map[string]bool{}
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "internal" || d.Name() == "gatewayctx" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d.Name(), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				other, ok := strings.CutPrefix(path, prefix)
				if !ok || other == "gatewayctx" || allowed[d.Name()+" -> "+other] {
					continue
				}
				t.Errorf("%s imports %s; share it through gatewayctx instead", f, path)
			}
		}
	}
	if _, err := os.Stat("gatewayctx"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("gatewayctx/*.go")
	for _, f := range files {
		ast, _ := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		for _, imp := range ast.Imports {
			if strings.Contains(imp.Path.Value, prefix) {
				t.Errorf("gatewayctx, a leaf, imports %s", imp.Path.Value)
			}
		}
	}
}
