// Package openapitest holds what the services' tests of their OpenAPI
// documents share: decoding a document, resolving local $refs, the
// operation keys of a path item, checking a router against the document
// (routes.go), validating requests and responses against its schemas
// (validate.go) and generating the bad input it rejects (badinput.go).
package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Methods are the operation keys of an OpenAPI path item.
var Methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Load decodes an OpenAPI document (numbers kept as json.Number).
func Load(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// Pointer resolves a local JSON pointer ("#/components/schemas/X") in doc.
func Pointer(doc any, ref string) (any, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	if frag == "" {
		return doc, nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("not a JSON pointer")
	}
	cur := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not inside an object", tok)
		}
		if cur, ok = obj[tok]; !ok {
			return nil, fmt.Errorf("%q does not exist", tok)
		}
	}
	return cur, nil
}

// Deref follows $ref from v until it reaches an object without one.
func Deref(t testing.TB, doc, v any) map[string]any {
	t.Helper()
	for range 10 {
		obj, _ := v.(map[string]any)
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj
		}
		target, err := Pointer(doc, ref)
		if err != nil {
			t.Fatalf("$ref %s: %v", ref, err)
		}
		v = target
	}
	t.Fatal("$ref chain too long")
	return nil
}

// CheckRefs fails t unless every $ref in doc points into #/components and
// resolves, and there is at least one.
func CheckRefs(t testing.TB, doc map[string]any) {
	t.Helper()
	n := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"]; ok {
				n++
				s, _ := ref.(string)
				if !strings.HasPrefix(s, "#/components/") {
					t.Errorf("%s: $ref %v does not point into #/components", path, ref)
				} else if _, err := Pointer(doc, s); err != nil {
					t.Errorf("%s: $ref %s: %v", path, s, err)
				}
			}
			for k, child := range v {
				walk(path+"/"+k, child)
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s/%d", path, i), child)
			}
		}
	}
	walk("#", doc)
	if n == 0 {
		t.Error("no $ref found at all")
	}
}
