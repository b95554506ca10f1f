package openapitest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/openapitest"
)

const doc = `{
  "openapi": "3.1.0",
  "paths": {
    "/things/{id}": {"patch": {
      "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
      "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
      "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "422": {"content": {"application/problem+json": {"schema": {"type": "object"}}}}}}}
  },
  "components": {"schemas": {"Thing": {
    "type": "object", "additionalProperties": false, "required": ["name"],
    "properties": {
      "name": {"type": "string", "minLength": 1, "pattern": "^[^\\u0000-\\u001F]*$"},
      "note": {"type": ["string", "null"]},
      "at": {"type": "string", "format": "date-time"},
      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "uniqueItems": true},
      "kind": {"enum": ["a", "b"]}
    }}}}
}`

func TestValidator(t *testing.T) {
	v := openapitest.NewValidator(openapitest.Load(t, []byte(doc)))
	thing := map[string]any{"$ref": "#/components/schemas/Thing"}
	for _, tc := range []struct {
		body string
		bad  string // a part of the expected message, "" when valid
	}{
		{`{"name":"a","note":null,"at":"2026-01-01T00:00:00Z","tags":["x"],"kind":"a"}`, ""},
		{`{"name":""}`, "minLength"},
		{`{"name":"a\u0001"}`, "does not match"},
		{`{"name":null}`, "is null"},
		{`{"name":"a","x":1}`, "unknown property"},
		{`{}`, "lacks required name"},
		{`{"name":"a","at":"yesterday"}`, "date-time"},
		{`{"name":"a","tags":["x","x"]}`, "equal"},
		{`{"name":"a","tags":["x","y","z"]}`, "maxItems"},
		{`{"name":"a","kind":"c"}`, "not one of"},
		{`null`, "is null"},
	} {
		var val any
		dec := json.NewDecoder(strings.NewReader(tc.body))
		dec.UseNumber()
		if err := dec.Decode(&val); err != nil {
			t.Fatal(err)
		}
		errs := v.Validate(thing, val)
		if tc.bad == "" && len(errs) > 0 || tc.bad != "" && !strings.Contains(strings.Join(errs, "\n"), tc.bad) {
			t.Errorf("Validate(%s) = %q, want a message with %q", tc.body, errs, tc.bad)
		}
	}

	op, ok := v.Find("PATCH", "/things/a%20b")
	if !ok || op.Path != "/things/{id}" {
		t.Fatalf("Find = %+v, %v", op, ok)
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	if errs := v.CheckResponse(op, 201, hdr, []byte(`{"name":"a"}`)); len(errs) == 0 {
		t.Error("an undocumented status passed")
	}
	if errs := v.CheckResponse(op, 200, hdr, []byte(`{"name":1}`)); len(errs) == 0 {
		t.Error("a body outside its schema passed")
	}
	if errs := v.CheckResponse(op, 422, hdr, []byte(`{}`)); len(errs) == 0 {
		t.Error("an undocumented media type passed")
	}

	probes := v.BadInputs(op, openapitest.Fixture{Path: "/things/1", Body: map[string]any{"name": "a"}})
	names := map[string]bool{}
	for _, p := range probes {
		names[p.Name] = true
	}
	for _, want := range []string{"null body", "body name=null", "body name=12345", `body name=""`, "body with an unknown field",
		`query limit=""`, `query limit="x"`, `query limit="-1"`, "body tags=\"x\""} {
		if !names[want] {
			t.Errorf("no probe %q among %v", want, names)
		}
	}
	if names["body note=null"] {
		t.Error("a probe sets a nullable field to null")
	}
}
