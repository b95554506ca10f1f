package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Probe is one request the document says is invalid.
type Probe struct {
	Name   string
	Query  url.Values
	Header http.Header
	Body   []byte // nil: the fixture's body (or none)
	Path   string // "": the fixture's path
}

// Fixture is what makes a valid request to one operation: the concrete
// path and, for operations with a body, a valid body. Bad input is made by
// mutating it one part at a time.
type Fixture struct {
	Path   string         // concrete: /api/users/u_123
	Body   map[string]any // a valid body (nil when the operation has none)
	Header http.Header    // sent with every probe (credentials)
}

// wrongValues are what a body field is set to: each is sent when the
// document rejects it there.
var wrongValues = []any{nil, json.Number("12345"), "x", "", true, []any{}, map[string]any{}, json.Number("-1"), json.Number("1.5")}

// BadInputs generates, for o, requests its document rejects: a body that is
// null, an array or a scalar; each body field set to a wrong type, null or
// empty; an unknown field; each query or header parameter empty or of the
// wrong type. Only mutations the document's schemas reject are returned.
func (vd *Validator) BadInputs(o Operation, f Fixture) []Probe {
	var probes []Probe
	if schema := vd.RequestSchema(o); schema != nil {
		whole := []struct {
			name string
			v    any
		}{{"null body", nil}, {"array body", []any{}}, {"string body", "x"}, {"number body", json.Number("1")}}
		for _, w := range whole {
			if !vd.Valid(schema, w.v) {
				probes = append(probes, Probe{Name: w.name, Body: mustJSON(w.v)})
			}
		}
		base := map[string]any{}
		if f.Body != nil {
			base = roundTrip(f.Body)
		}
		props := vd.properties(schema)
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			for _, w := range wrongValues {
				body := maps.Clone(base)
				body[name] = w
				if !vd.Valid(schema, body) {
					probes = append(probes, Probe{Name: fmt.Sprintf("body %s=%s", name, short(w)), Body: mustJSON(body)})
				}
			}
		}
		body := maps.Clone(base)
		body["zz_unknown_field"] = "x"
		if !vd.Valid(schema, body) {
			probes = append(probes, Probe{Name: "body with an unknown field", Body: mustJSON(body)})
		}
	}
	for _, p := range o.Params {
		in, name := fmt.Sprint(p["in"]), fmt.Sprint(p["name"])
		if in == "path" {
			probes = append(probes, vd.badPathValues(o, f, name, p["schema"])...)
			continue
		}
		if in != "query" && in != "header" {
			continue
		}
		for _, raw := range []string{"", "x", "-1", "1.5", "not a number", "99999999999999999999"} {
			if vd.Valid(p["schema"], vd.paramValue(p["schema"], raw)) {
				continue
			}
			pr := Probe{Name: fmt.Sprintf("%s %s=%q", in, name, raw), Query: url.Values{}, Header: http.Header{}}
			if in == "query" {
				pr.Query.Set(name, raw)
			} else {
				pr.Header[http.CanonicalHeaderKey(name)] = []string{raw}
			}
			probes = append(probes, pr)
		}
	}
	return probes
}

// badPathValues puts values the schema rejects in place of path parameter
// name of the fixture's path (found by matching it to the template).
func (vd *Validator) badPathValues(o Operation, f Fixture, name string, schema any) []Probe {
	re, _ := templateRegexp(o.Path)
	m := re.FindStringSubmatchIndex(f.Path)
	if m == nil {
		return nil
	}
	group := -1
	for i, p := range templateParam.FindAllString(o.Path, -1) {
		if p == "{"+name+"}" {
			group = i + 1
		}
	}
	if group < 0 {
		return nil
	}
	var probes []Probe
	for _, raw := range []string{"Bad Name!", "-x", strings.Repeat("a", 300), "x\u0001"} {
		if vd.Valid(schema, raw) {
			continue
		}
		path := f.Path[:m[2*group]] + url.PathEscape(raw) + f.Path[m[2*group+1]:]
		probes = append(probes, Probe{Name: fmt.Sprintf("path %s=%.20q", name, raw), Path: path})
	}
	return probes
}

// properties merges the properties of schema and of its allOf parts.
func (vd *Validator) properties(schema any) map[string]any {
	s := vd.Resolve(schema)
	out := map[string]any{}
	if props, ok := s["properties"].(map[string]any); ok {
		maps.Copy(out, props)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			maps.Copy(out, vd.properties(sub))
		}
	}
	return out
}

// paramValue reads a raw parameter value as the schema's type would (a
// string when it cannot be read so, which that type then rejects).
func (vd *Validator) paramValue(schema any, raw string) any {
	s := vd.Resolve(schema)
	switch s["type"] {
	case "integer", "number":
		if _, err := strconv.ParseFloat(raw, 64); err == nil {
			return json.Number(raw)
		}
	case "boolean":
		if b, err := strconv.ParseBool(raw); err == nil && (raw == "true" || raw == "false") {
			return b
		}
	}
	return raw
}

// roundTrip returns v as JSON decoding gives it back (json.Number, []any,
// map[string]any), the shapes Validate reads.
func roundTrip(v map[string]any) map[string]any {
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(mustJSON(v)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		panic(err)
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// SendBadInputs sends every probe of o to baseURL with client and fails t
// unless each gets a 4xx that o documents, as application/problem+json
// matching the document. It returns how many probes were sent.
func (vd *Validator) SendBadInputs(t *testing.T, client *http.Client, baseURL string, o Operation, f Fixture) int {
	t.Helper()
	probes := vd.BadInputs(o, f)
	for _, p := range probes {
		u := baseURL + f.Path
		if p.Path != "" {
			u = baseURL + p.Path
		}
		if len(p.Query) > 0 {
			u += "?" + p.Query.Encode()
		}
		var body io.Reader
		switch {
		case p.Body != nil:
			body = bytes.NewReader(p.Body)
		case f.Body != nil:
			body = bytes.NewReader(mustJSON(f.Body))
		}
		req, err := http.NewRequest(o.Method, u, body)
		if err != nil {
			t.Fatalf("%s %s %s: %v", o.Method, o.Path, p.Name, err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range f.Header {
			req.Header[k] = v
		}
		for k, v := range p.Header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s [%s]: %v", o.Method, o.Path, p.Name, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := fmt.Sprintf("%s %s [%s] → %d %s", o.Method, o.Path, p.Name, resp.StatusCode, strings.TrimSpace(string(b)))
		if resp.StatusCode < 400 || resp.StatusCode > 499 {
			t.Errorf("%s: want a documented 4xx", what)
			continue
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want application/problem+json", what, resp.Header.Get("Content-Type"))
		}
		for _, msg := range vd.CheckResponse(o, resp.StatusCode, resp.Header, b) {
			t.Errorf("%s: %s", what, msg)
		}
	}
	return len(probes)
}

// SendAllBadInputs sends the probes of every operation that takes input
// (SendBadInputs), with the fixture fixtures holds for it under "METHOD
// /path template", failing t for an operation without one. It fails t
// unless at least `least` probes were sent, and returns how many were.
func (vd *Validator) SendAllBadInputs(t *testing.T, client *http.Client, baseURL string, fixtures map[string]Fixture, least int) int {
	t.Helper()
	sent := 0
	for _, op := range vd.Operations() {
		if len(vd.BadInputs(op, Fixture{Path: op.Path})) == 0 {
			continue
		}
		f, ok := fixtures[op.Method+" "+op.Path]
		if !ok {
			t.Errorf("%s %s takes input but has no fixture here", op.Method, op.Path)
			continue
		}
		sent += vd.SendBadInputs(t, client, baseURL, op, f)
	}
	if sent < least {
		t.Errorf("only %d bad requests sent", sent)
	}
	t.Logf("%d bad requests sent", sent)
	return sent
}

// Recorder is an http.RoundTripper that checks every response it carries
// against the operation of the document that serves it.
type Recorder struct {
	T         testing.TB
	V         *Validator
	Base      http.RoundTripper // http.DefaultTransport when nil
	StripPath string            // a prefix the document's paths lack
	// Seen counts the checked responses per "METHOD template status".
	Seen map[string]int
}

// RoundTrip implements http.RoundTripper.
func (rc *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := rc.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	path := strings.TrimPrefix(req.URL.EscapedPath(), rc.StripPath)
	if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
		rc.T.Errorf("%s %s → 405 without Allow (RFC 9110 §15.5.6)", req.Method, path)
	}
	op, ok := rc.V.Find(req.Method, path)
	if !ok {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			rc.T.Errorf("%s %s → %d: no operation of the document serves it", req.Method, path, resp.StatusCode)
		}
		return resp, nil
	}
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ctype == "text/event-stream" {
		// A stream does not end: its events are checked by the caller.
		rc.count(op, resp.StatusCode)
		for _, msg := range rc.V.CheckResponse(op, resp.StatusCode, resp.Header, []byte("{}")) {
			if strings.Contains(msg, "not documented") {
				rc.T.Errorf("%s %s → %d: %s", req.Method, path, resp.StatusCode, msg)
			}
		}
		return resp, nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	rc.count(op, resp.StatusCode)
	for _, msg := range rc.V.CheckResponse(op, resp.StatusCode, resp.Header, b) {
		rc.T.Errorf("%s %s (%s) → %d: %s\n  body: %.300s", req.Method, path, op.Path, resp.StatusCode, msg, b)
	}
	return resp, nil
}

func (rc *Recorder) count(op Operation, status int) {
	if rc.Seen == nil {
		rc.Seen = map[string]int{}
	}
	rc.Seen[fmt.Sprintf("%s %s %d", op.Method, op.Path, status)]++
}
