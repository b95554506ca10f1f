package cored_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/openapitest"
	"github.com/plugboard/plugboard/internal/testenv"
)

// conformance is a core and its own published document, with a client
// whose every response is checked against that document.
type conformance struct {
	s      *coreServer
	v      *openapitest.Validator
	rec    *openapitest.Recorder
	client *http.Client
}

func newConformance(t *testing.T) *conformance {
	t.Helper()
	s := start(t, backends[0].env(t))
	r := s.do("GET", "/api/auth/openapi.json", "", nil)
	if r.Status != 200 {
		t.Fatalf("openapi.json: %d", r.Status)
	}
	v := openapitest.NewValidator(openapitest.Load(t, r.Body))
	rec := &openapitest.Recorder{T: t, V: v}
	return &conformance{s: s, v: v, rec: rec, client: &http.Client{Transport: rec, Timeout: 10 * time.Second}}
}

// send makes a request through the checking client and returns the status
// and the decoded body (nil when it is not a JSON object).
func (c *conformance) send(t *testing.T, method, path, tok, body string, header ...string) (int, map[string]any) {
	t.Helper()
	var b any
	if body != "" {
		b = body
	}
	if tok != "" {
		header = append([]string{"Authorization", "Bearer " + tok}, header...)
	}
	r := testenv.Send(t, c.client, testenv.NewRequest(t, method, c.s.URL+path, b, header...))
	var v map[string]any
	_ = json.Unmarshal(r.Body, &v)
	return r.Status, v
}

func (c *conformance) id(t *testing.T, method, path, tok, body string) string {
	t.Helper()
	status, v := c.send(t, method, path, tok, body)
	if status != 201 {
		t.Fatalf("%s %s: %d %v", method, path, status, v)
	}
	if id, ok := v["id"].(string); ok {
		return id
	}
	k, _ := v["api_key"].(map[string]any)
	id, _ := k["id"].(string)
	return id
}

// TestResponsesMatchTheDocument drives representative requests, good and
// bad, through a client that validates every response (status, media type,
// body schema) against the document core publishes.
func TestResponsesMatchTheDocument(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	login := `{"tenant":"default","username":"admin","password":"` + adminPassword + `"}`
	_, tk := c.send(t, "POST", "/api/auth/login", "", login)
	access, _ := tk["access_token"].(string)
	refresh, _ := tk["refresh_token"].(string)
	if access == "" {
		t.Fatalf("login: %v", tk)
	}
	tenant := c.id(t, "POST", "/api/tenants", access, `{"name":"acme","display_name":"Acme","config":{"a":1},"enabled_services":["orders"]}`)
	user := c.id(t, "POST", "/api/users", access, `{"tenant_id":"`+tenant+`","username":"ann","password":"password-ann","email":"ann@example.com","role":"tenant_admin"}`)
	key := c.id(t, "POST", "/api/api-keys", access, `{"name":"ci","scopes":["orders:read"],"expires_at":"2099-01-01T00:00:00Z"}`)
	for _, tc := range []struct{ method, path, tok, body string }{
		{"POST", "/api/auth/login", "", `{"username":"admin","password":"wrong-password"}`},
		{"POST", "/api/auth/login", "", `{"username":null,"password":"x"}`},
		{"POST", "/api/auth/login", "", `username=admin&password=` + adminPassword},
		{"POST", "/api/auth/login", "", `username=&password=`},
		{"GET", "/api/auth/jwks.json", "", ""},
		{"POST", "/api/auth/verify", access, ""},
		{"POST", "/api/auth/verify", "", ""},
		{"GET", "/api/auth/me", access, ""},
		{"GET", "/api/auth/me", "", ""},
		{"POST", "/api/auth/password", access, `{"current_password":"wrong-password","new_password":"password-new"}`},
		{"POST", "/api/auth/password", access, `{"current_password":"x","new_password":"short"}`},
		{"GET", "/api/users", access, ""},
		{"GET", "/api/users?tenant_id=" + tenant + "&limit=1&offset=0", access, ""},
		{"GET", "/api/users?limit=", access, ""},
		{"GET", "/api/users/" + user, access, ""},
		{"GET", "/api/users/nope", access, ""},
		{"PATCH", "/api/users/" + user, access, `{"email":"ann2@example.com","is_active":true}`},
		{"PATCH", "/api/users/" + user, access, `null`},
		{"PATCH", "/api/users/" + user, access, `{"role":null}`},
		{"POST", "/api/users", access, `{"tenant_id":"` + tenant + `","username":"ann","password":"password-ann"}`},
		{"POST", "/api/users", access, `{"username":"bob","password":"password-bob","email":"not an address"}`},
		{"GET", "/api/tenants", access, ""},
		{"GET", "/api/tenants/" + tenant, access, ""},
		{"PATCH", "/api/tenants/" + tenant, access, `{"display_name":null,"config":{"b":2}}`},
		{"PUT", "/api/tenants/" + tenant + "/services/billing", access, ""},
		{"DELETE", "/api/tenants/" + tenant + "/services/billing", access, ""},
		{"POST", "/api/tenants", access, `{"name":"acme"}`},
		{"GET", "/api/api-keys", access, ""},
		{"GET", "/api/api-keys?tenant_id=", access, ""},
		{"GET", "/api/api-keys/" + key, access, ""},
		{"GET", "/api/audit?limit=5", access, ""},
		{"GET", "/api/audit?limit=0", access, ""},
		{"PUT", "/api/config/orders/db.url?scope=global", access, `{"value":"postgres://x","comment":"first"}`},
		{"PUT", "/api/config/orders/db.url?scope=global", access, `{"value":"postgres://y"}`},
		{"PUT", "/api/config/orders/db.url?scope=global", access, `{"value":1,"comment":null}`},
		{"GET", "/api/config/orders/db.url?scope=global", access, ""},
		{"GET", "/api/config/orders/db.url/history?scope=global", access, ""},
		{"GET", "/api/config/orders/db.url/diff?scope=global&from=1&to=2", access, ""},
		{"POST", "/api/config/orders/db.url/rollback?scope=global", access, `{"version":1}`},
		{"GET", "/api/config?scope=global", access, ""},
		{"GET", "/api/config?scope=global&tenant_id=" + tenant, access, ""},
		{"GET", "/api/config/orders/nope?scope=global", access, ""},
		{"DELETE", "/api/config/orders/db.url?scope=global", access, ""},
		{"DELETE", "/api/api-keys/" + key, access, ""},
		{"DELETE", "/api/users/" + user, access, ""},
		{"DELETE", "/api/tenants/" + tenant, access, ""},
		{"GET", "/api/auth/openapi.json", "", ""},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"DELETE", "/api/users", access, ""},
		{"POST", "/api/auth/refresh", "", `{"refresh_token":"` + refresh + `"}`},
		{"POST", "/api/auth/refresh", "", `{"refresh_token":"nope"}`},
		{"POST", "/api/auth/logout", "", `{"refresh_token":null}`},
		{"POST", "/api/auth/logout", access, ""},
	} {
		c.send(t, tc.method, tc.path, tc.tok, tc.body)
	}
	// Conditional writes: the right version, a stale one, an empty header.
	c.send(t, "PUT", "/api/config/orders/k?scope=global", access, `{"value":1}`, "If-None-Match", "*")
	c.send(t, "PUT", "/api/config/orders/k?scope=global", access, `{"value":2}`, "If-Match", `"1"`)
	c.send(t, "PUT", "/api/config/orders/k?scope=global", access, `{"value":3}`, "If-Match", `"1"`)
	c.send(t, "PUT", "/api/config/orders/k?scope=global", access, `{"value":4}`, "If-Match", "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.s.URL+"/api/config/watch?scope=global", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(c.rec.Seen) < 40 {
		t.Errorf("only %d (operation, status) pairs checked: %v", len(c.rec.Seen), c.rec.Seen)
	}
}

// TestEmptyIfMatchIsRefused: an empty If-Match used to be read as no
// precondition, so a write meant to be conditional went through.
func TestEmptyIfMatchIsRefused(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	tk := c.s.login("default", "admin", adminPassword)
	if status, _ := c.send(t, "PUT", "/api/config/orders/k?scope=global", tk.AccessToken, `{"value":1}`); status != 201 {
		t.Fatalf("create: %d", status)
	}
	for _, h := range []string{"If-Match", "If-None-Match"} {
		for _, method := range []string{"PUT", "DELETE"} {
			status, p := c.send(t, method, "/api/config/orders/k?scope=global", tk.AccessToken, `{"value":2}`, h, "")
			if detail, _ := p["detail"].(string); status != 400 || !strings.Contains(detail, h) {
				t.Errorf("%s with an empty %s: %d %v, want 400 naming the header", method, h, status, p)
			}
		}
	}
	if _, e := c.send(t, "GET", "/api/config/orders/k?scope=global", tk.AccessToken, ""); e["version"] != float64(1) {
		t.Errorf("the entry changed: %v", e)
	}
}

// TestBadInputGetsADocumentedProblem walks the document: every operation
// with a body or query/header parameters gets generated bad input (wrong
// types, nulls, empty values, unknown fields), sent with a super admin's
// token; each must be answered with a 4xx the operation documents, as
// problem+json.
func TestBadInputGetsADocumentedProblem(t *testing.T) {
	t.Parallel()
	c := newConformance(t)
	tk := c.s.login("default", "admin", adminPassword)
	auth := http.Header{"Authorization": {"Bearer " + tk.AccessToken}}
	tenant := c.id(t, "POST", "/api/tenants", tk.AccessToken, `{"name":"acme"}`)
	user := c.id(t, "POST", "/api/users", tk.AccessToken, `{"tenant_id":"`+tenant+`","username":"ann","password":"password-ann"}`)
	c.send(t, "PUT", "/api/config/orders/k?scope=global", tk.AccessToken, `{"value":1}`)
	c.send(t, "PUT", "/api/config/orders/k?scope=global", tk.AccessToken, `{"value":2}`)
	entry := "/api/config/orders/k"
	fixtures := map[string]openapitest.Fixture{
		"POST /api/auth/login":    {Path: "/api/auth/login", Body: map[string]any{"tenant": "default", "username": "admin", "password": adminPassword}},
		"POST /api/auth/refresh":  {Path: "/api/auth/refresh", Body: map[string]any{"refresh_token": tk.RefreshToken}},
		"POST /api/auth/logout":   {Path: "/api/auth/logout", Body: map[string]any{"refresh_token": tk.RefreshToken}},
		"POST /api/auth/password": {Path: "/api/auth/password", Body: map[string]any{"current_password": adminPassword, "new_password": adminPassword}, Header: auth},
		"GET /api/users":          {Path: "/api/users", Header: auth},
		"POST /api/users": {Path: "/api/users", Header: auth,
			Body: map[string]any{"tenant_id": tenant, "username": "bob", "password": "password-bob", "email": "bob@example.com", "role": "user", "is_active": true}},
		"PATCH /api/users/{id}":                     {Path: "/api/users/" + user, Header: auth, Body: map[string]any{"is_active": true}},
		"POST /api/tenants":                         {Path: "/api/tenants", Header: auth, Body: map[string]any{"name": "globex", "display_name": "G", "config": map[string]any{}, "enabled_services": []string{"a"}, "is_active": true}},
		"PATCH /api/tenants/{id}":                   {Path: "/api/tenants/" + tenant, Header: auth, Body: map[string]any{"display_name": "Acme"}},
		"GET /api/api-keys":                         {Path: "/api/api-keys", Header: auth},
		"PUT /api/tenants/{id}/services/{name}":     {Path: "/api/tenants/" + tenant + "/services/orders", Header: auth},
		"DELETE /api/tenants/{id}/services/{name}":  {Path: "/api/tenants/" + tenant + "/services/orders", Header: auth},
		"POST /api/api-keys":                        {Path: "/api/api-keys", Header: auth, Body: map[string]any{"name": "ci", "scopes": []string{"orders:read"}, "expires_at": "2099-01-01T00:00:00Z", "tenant_key": false}},
		"GET /api/audit":                            {Path: "/api/audit", Header: auth},
		"GET /api/config":                           {Path: "/api/config", Header: auth},
		"GET /api/config/watch":                     {Path: "/api/config/watch", Header: auth},
		"GET /api/auth/changes":                     {Path: "/api/auth/changes", Header: auth},
		"GET /api/config/{service}/{key}":           {Path: entry, Header: auth},
		"PUT /api/config/{service}/{key}":           {Path: entry, Header: auth, Body: map[string]any{"value": 3, "comment": "c"}},
		"DELETE /api/config/{service}/{key}":        {Path: entry, Header: auth},
		"GET /api/config/{service}/{key}/history":   {Path: entry + "/history", Header: auth},
		"GET /api/config/{service}/{key}/diff":      {Path: entry + "/diff", Header: auth},
		"POST /api/config/{service}/{key}/rollback": {Path: entry + "/rollback", Header: auth, Body: map[string]any{"version": 1, "comment": "back"}},
	}
	c.v.SendAllBadInputs(t, c.client, c.s.URL, fixtures, 200)
}

// TestMethodNotAllowedListsAllow: every 405 carries the Allow header RFC
// 9110 requires, naming the methods the path has.
func TestMethodNotAllowedListsAllow(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	tk := s.login("default", "admin", adminPassword)
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/api/users", "GET, POST"},
		{"POST", "/api/users/x", "GET, PATCH, DELETE"},
		{"GET", "/api/auth/login", "POST"},
		{"PATCH", "/api/config/orders/k", "GET, POST, PUT, DELETE"}, // POST: …/rollback shares the route
		{"POST", "/healthz", "GET"},
	} {
		r := s.do(tc.method, tc.path, tk.AccessToken, nil)
		if r.Status != 405 || r.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", tc.method, tc.path, r.Status, r.Header.Get("Allow"), tc.allow)
		}
	}
}

// TestNullIsRefused: a null where the document allows none is 422 naming
// the field, never read as "absent".
func TestNullIsRefused(t *testing.T) {
	t.Parallel()
	s := start(t, backends[0].env(t))
	tk := s.login("default", "admin", adminPassword)
	user := s.mustCreate("/api/users", tk.AccessToken, map[string]any{"username": "ann", "password": "password-ann"})
	for _, tc := range []struct{ method, path, body, field string }{
		{"PATCH", "/api/users/" + user, `null`, "(body)"},
		{"PATCH", "/api/users/" + user, `{"role":null}`, "role"},
		{"PATCH", "/api/users/" + user, `{"is_active":null}`, "is_active"},
		{"POST", "/api/auth/logout", `{"refresh_token":null}`, "refresh_token"},
		{"POST", "/api/users", `{"username":"bob","password":"password-bob","email":null}`, "email"},
	} {
		r := s.do(tc.method, tc.path, tk.AccessToken, tc.body)
		var p struct{ Errors map[string]string }
		r.Decode(t, &p)
		if r.Status != 422 || p.Errors[tc.field] == "" {
			t.Errorf("%s %s %s = %d %s; want 422 naming %s", tc.method, tc.path, tc.body, r.Status, r.Body, tc.field)
		}
	}
}
