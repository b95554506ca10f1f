package registryd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/openapitest"
)

// conformance is a registry and its own published document, with a client
// whose every response is checked against that document.
type conformance struct {
	rp     *replica
	v      *openapitest.Validator
	rec    *openapitest.Recorder
	client *http.Client
}

func newConformance(t *testing.T) *conformance {
	t.Helper()
	rp := start(t, backends[0].env(t))
	r := rp.do("GET", "/api/registry/openapi.json", nil, "")
	if r.Status != 200 {
		t.Fatalf("openapi.json: %d", r.Status)
	}
	v := openapitest.NewValidator(openapitest.Load(t, r.Body))
	rec := &openapitest.Recorder{T: t, V: v}
	return &conformance{rp: rp, v: v, rec: rec, client: &http.Client{Transport: rec, Timeout: 10 * time.Second}}
}

func (c *conformance) send(t *testing.T, method, path, body string, header ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.rp.URL+path, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp
}

// TestResponsesMatchTheDocument drives representative requests, good and
// bad, through a client that validates every response (status, media type,
// body schema) against the document the registry publishes.
func TestResponsesMatchTheDocument(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	cfg, _ := json.Marshal(serviceConfig("orders", 9001))
	auth := []string{"Authorization", "Bearer " + token}
	reg := c.send(t, "POST", "/api/registry/register", string(cfg), auth...)
	id := strings.TrimPrefix(reg.Header.Get("Location"), "/api/registry/services/")
	c.send(t, "POST", "/api/registry/register", string(cfg), auth...) // 200: again
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/registry/services", ""},
		{"GET", "/api/registry/services?name=orders&tag=blue&include_inactive=true", ""},
		{"GET", "/api/registry/services?limit=", ""},
		{"GET", "/api/registry/services?include_inactive=maybe", ""},
		{"GET", "/api/registry/services/" + id, ""},
		{"GET", "/api/registry/services/a%20b", ""},
		{"GET", "/api/registry/services?limit=1&offset=0", ""},
		{"GET", "/api/registry/catalog", ""},
		{"GET", "/api/registry/catalog?q=ord&tag=blue&version=1.0.0&sort=name&order=desc&limit=10&offset=0", ""},
		{"GET", "/api/registry/catalog?sort=size", ""},
		{"GET", "/api/registry/services/" + id + "/events", ""},
		{"GET", "/api/registry/services/" + id + "/events?limit=0", ""},
		{"GET", "/api/registry/services/nope/events", ""},
		{"GET", "/api/registry/watch?revision=x", ""},
		{"GET", "/api/registry/openapi.json", ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"POST", "/api/registry/heartbeat", `{"service_id":"` + id + `"}`},
		{"POST", "/api/registry/heartbeat", `{"service_id":"nope"}`},
		{"POST", "/api/registry/heartbeat", `{}`},
		{"POST", "/api/registry/heartbeat", `{"service_id":`},
		{"POST", "/api/registry/register", `{"name":"x","display_name":null,"host":"127.0.0.1","port":1}`},
		{"POST", "/api/registry/register", `{"name":"registry","host":"a..b","port":0}`},
		{"POST", "/api/registry/register", strings.Repeat(" ", 2<<20)},
		{"POST", "/api/registry/deregister/" + id, ""},
		{"POST", "/api/registry/deregister/nope", ""},
		{"GET", "/api/registry/services/" + id + "/events", ""}, // with the deregistration
	} {
		c.send(t, tc.method, tc.path, tc.body, auth...)
	}
	c.send(t, "POST", "/api/registry/register", string(cfg)) // 401
	c.send(t, "DELETE", "/api/registry/services", "")        // 405

	// The watch stream: its status and media type, then each event's data
	// against the event schemas.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.rp.URL+"/api/registry/watch?revision=0", nil)
	req.Header.Set(auth[0], auth[1])
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	schemas := map[string]string{"snapshot": "Snapshot", "reconnect": "Reconnect", "registered": "Event", "updated": "Event", "deregistered": "Event", "expired": "Event"}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event, checked := "", 0
	for checked < 2 && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			name, ok := schemas[event]
			if !ok {
				t.Errorf("event %q has no schema in the document", event)
				continue
			}
			var v any
			dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(line, "data: ")))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("event %s: %v", event, err)
			}
			for _, msg := range c.v.Validate(map[string]any{"$ref": "#/components/schemas/" + name}, v) {
				t.Errorf("event %s: %s", event, msg)
			}
			checked++
		}
	}
	if checked < 2 {
		t.Errorf("read %d events of the watch stream, want 2", checked)
	}
	if len(c.rec.Seen) < 15 {
		t.Errorf("only %d (operation, status) pairs checked: %v", len(c.rec.Seen), c.rec.Seen)
	}
}

// TestBadInputGetsADocumentedProblem walks the document: every operation
// with a body or query/header parameters gets generated bad input (wrong
// types, nulls, empty values, unknown fields), sent with a valid
// credential; each must be answered with a 4xx the operation documents, as
// problem+json.
func TestBadInputGetsADocumentedProblem(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	auth := http.Header{"Authorization": {"Bearer " + token}}
	cfg := serviceConfig("orders", 9001)
	reg := c.send(t, "POST", "/api/registry/register", string(mustMarshal(t, cfg)), "Authorization", "Bearer "+token)
	id := strings.TrimPrefix(reg.Header.Get("Location"), "/api/registry/services/")
	fixtures := map[string]openapitest.Fixture{
		"POST /api/registry/register":                    {Path: "/api/registry/register", Body: cfg, Header: auth},
		"POST /api/registry/heartbeat":                   {Path: "/api/registry/heartbeat", Body: map[string]any{"service_id": id}, Header: auth},
		"GET /api/registry/services":                     {Path: "/api/registry/services"},
		"GET /api/registry/watch":                        {Path: "/api/registry/watch"},
		"GET /api/registry/catalog":                      {Path: "/api/registry/catalog"},
		"GET /api/registry/services/{service_id}/events": {Path: "/api/registry/services/" + id + "/events"},
	}
	c.v.SendAllBadInputs(t, c.client, c.rp.URL, fixtures, 50)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMethodNotAllowedListsAllow: every 405 carries the Allow header RFC
// 9110 requires, naming the methods the path has.
func TestMethodNotAllowedListsAllow(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t))
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/api/registry/services", "GET"},
		{"PUT", "/api/registry/services/x", "GET"},
		{"GET", "/api/registry/register", "POST"},
		{"GET", "/api/registry/deregister/x", "POST"},
		{"POST", "/healthz", "GET"},
	} {
		r := rp.do(tc.method, tc.path, nil, token)
		if r.Status != 405 || r.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", tc.method, tc.path, r.Status, r.Header.Get("Allow"), tc.allow)
		}
	}
}

// TestProblemInstanceIsAURIReference: the problem's instance is the path as
// sent, percent-encoded, not decoded into something that is no URI.
func TestProblemInstanceIsAURIReference(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t))
	var p struct{ Instance string }
	rp.do("GET", "/api/registry/services/a%20b", nil, "").Decode(t, &p)
	if p.Instance != "/api/registry/services/a%20b" {
		t.Errorf("instance %q, want /api/registry/services/a%%20b", p.Instance)
	}
}

// TestPublicEndpointRolesRule: the document's rule that a public endpoint
// cannot require roles says what the registry enforces.
func TestPublicEndpointRolesRule(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	ep := map[string]any{"$ref": "#/components/schemas/EndpointRequest"}
	for _, tc := range []struct {
		endpoint string
		valid    bool
	}{
		{`{"path":"/x","is_public":true,"required_roles":["admin"]}`, false},
		{`{"path":"/x","is_public":true,"required_roles":[]}`, true},
		{`{"path":"/x","is_public":false,"required_roles":["admin"]}`, true},
		{`{"path":"/x","required_roles":["admin"]}`, true},
	} {
		var v any
		dec := json.NewDecoder(strings.NewReader(tc.endpoint))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if got := c.v.Valid(ep, v); got != tc.valid {
			t.Errorf("document: %s valid = %v, want %v", tc.endpoint, got, tc.valid)
		}
		body := `{"name":"svc","host":"127.0.0.1","port":9000,"endpoints":[` + tc.endpoint + `]}`
		resp := c.send(t, "POST", "/api/registry/register", body, "Authorization", "Bearer "+token)
		if ok := resp.StatusCode < 300; ok != tc.valid {
			t.Errorf("registry: %s → %d, want valid = %v", tc.endpoint, resp.StatusCode, tc.valid)
		}
	}
}
