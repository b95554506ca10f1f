package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/identity"
	"github.com/plugboard/plugboard/core/sqlstore"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/internal/testenv"
)

// stubIdentity admits the bearer tokens it maps to claims; the rest of the
// credential service is not needed here.
type stubIdentity struct{ tokens map[string]*auth.Claims }

func (s stubIdentity) Authenticate(_ context.Context, token string) (*auth.Claims, error) {
	if c, ok := s.tokens[token]; ok {
		return c, nil
	}
	return nil, fault.Errorf(fault.Unauthorized, "Unknown token.")
}

var errStub = fault.Errorf(fault.Unavailable, "Not in this test.")

func (stubIdentity) Login(context.Context, string, string, string, string) (*identity.Tokens, *core.User, error) {
	return nil, nil, errStub
}
func (stubIdentity) Refresh(context.Context, string) (*identity.Tokens, error) { return nil, errStub }
func (stubIdentity) Logout(context.Context, string, string) error              { return errStub }
func (stubIdentity) EndUserSessions(context.Context, string) error             { return errStub }
func (stubIdentity) IdentityOf(context.Context, *auth.Claims) (*identity.Identity, error) {
	return nil, errStub
}
func (stubIdentity) VerifyAPIKey(context.Context, string) (*identity.Identity, error) {
	return nil, errStub
}
func (stubIdentity) JWKS() auth.JWKS { return auth.JWKS{} }

var _ Identity = stubIdentity{}

// The callers of these tests, by bearer token.
const (
	super  = "super"   // super_admin of tenant A
	adminA = "admin-a" // tenant_admin of A
	userA  = "user-a"  // user of A
	adminB = "admin-b" // tenant_admin of B
)

// harnessDB names the database a harness uses: PostgreSQL for the tests
// TestConfigOnPostgres runs, else SQLite. It goes by the test's name, not
// a variable to switch, as the tests run in parallel.
func harnessDB(t *testing.T) string {
	if strings.HasPrefix(t.Name(), "TestConfigOnPostgres/") {
		return testenv.PostgresURL(t)
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "core.db")
}

// TestConfigOnPostgres runs the configuration center's HTTP tests again on
// PostgreSQL (the tests above run on SQLite).
func TestConfigOnPostgres(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"CRUD", TestConfigCRUD}, {"Preconditions", TestConfigPreconditions}, {"HistoryDiffRollback", TestConfigHistoryDiffRollback},
		{"Access", TestConfigAccess}, {"Validation", TestConfigValidation}, {"Audit", TestConfigAudit}, {"Watch", TestConfigWatch},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type harness struct {
	t        *testing.T
	store    *sqlstore.Store
	a, b     *core.Tenant
	replicas []*httptest.Server
}

// newHarness serves the API from two replicas sharing one store and one
// in-process change feed.
func newHarness(t *testing.T) *harness {
	t.Helper()
	changes := ephemeral.NewMemory()
	t.Cleanup(func() { changes.Close() })
	return newHarnessWith(t, func() ephemeral.PubSub { return changes })
}

// newHarnessWith serves the API from two replicas sharing one store, each
// with the change feed changes returns.
func newHarnessWith(t *testing.T, changes func() ephemeral.PubSub, edits ...func(*Options)) *harness {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), storage.Options{URL: harnessDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := &harness{t: t, store: store}
	for _, name := range []string{"a", "b"} {
		tn := &core.Tenant{Name: name, IsActive: true}
		if err := store.CreateTenant(context.Background(), tn); err != nil {
			t.Fatal(err)
		}
		if name == "a" {
			h.a = tn
		} else {
			h.b = tn
		}
	}
	claims := func(id, username, tenantID, role string) *auth.Claims {
		return &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: id}, TenantID: tenantID, Username: username, Roles: []string{role}}
	}
	ids := stubIdentity{tokens: map[string]*auth.Claims{
		super:  claims("u-super", "root", h.a.ID, "super_admin"),
		adminA: claims("u-admin-a", "alice", h.a.ID, "tenant_admin"),
		userA:  claims("u-user-a", "arthur", h.a.ID, "user"),
		adminB: claims("u-admin-b", "bella", h.b.ID, "tenant_admin"),
	}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range 2 {
		r := httpx.NewRouter(logger)
		opt := Options{Changes: changes()}
		for _, edit := range edits {
			edit(&opt)
		}
		New(store, ids, logger, opt).Routes(r)
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		h.replicas = append(h.replicas, srv)
	}
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return v
}

func (r response) list(t *testing.T) []map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return v
}

// do sends a request to the first replica with token as its bearer
// credential; headers are name, value pairs.
func (h *harness) do(token, method, path, body string, headers ...string) response {
	h.t.Helper()
	var b any
	if body != "" {
		b = body
	}
	r := testenv.Do(h.t, method, h.replicas[0].URL+path, b, append([]string{"Authorization", "Bearer " + token}, headers...)...)
	return response{r.Status, r.Header, r.Body}
}

// want fails unless r has status; for errors it also checks the body is
// problem+json.
func (h *harness) want(what string, r response, status int) response {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		h.t.Fatalf("%s: Content-Type %q, want application/problem+json", what, r.header.Get("Content-Type"))
	}
	return r
}

func TestConfigCRUD(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const path = "/api/config/orders/db/url"
	// The value comes back byte for byte: spacing, key order, escapes and
	// HTML-looking text included.
	const value = `{"z": 1.50,  "a":"<&>", "u":"\u00e9"}`
	r := h.want("create", h.do(adminA, "PUT", path, `{"value": `+value+`, "comment":"first"}`), http.StatusCreated)
	if r.header.Get("ETag") != `"1"` || r.header.Get("Location") != path {
		t.Fatalf("create: ETag %q, Location %q", r.header.Get("ETag"), r.header.Get("Location"))
	}
	if !strings.Contains(string(r.body), `"value":`+value+`,`) {
		t.Fatalf("create: body %s does not hold the value verbatim", r.body)
	}

	r = h.want("get", h.do(userA, "GET", path, ""), http.StatusOK)
	if r.header.Get("ETag") != `"1"` || !strings.Contains(string(r.body), `"value":`+value+`,`) {
		t.Fatalf("get: ETag %q, body %s", r.header.Get("ETag"), r.body)
	}
	got := r.json(t)
	if got["scope"] != "tenant" || got["tenant_id"] != h.a.ID || got["service"] != "orders" || got["key"] != "db/url" ||
		got["version"] != 1.0 || got["updated_at"] == nil {
		t.Fatalf("get: %s", r.body)
	}
	if by, _ := got["updated_by"].(map[string]any); by["id"] != "u-admin-a" || by["name"] != "alice" {
		t.Fatalf("get: updated_by = %v", got["updated_by"])
	}

	r = h.want("update", h.do(adminA, "PUT", path, `{"value":"postgres://db"}`), http.StatusOK)
	if r.header.Get("ETag") != `"2"` || r.json(t)["version"] != 2.0 {
		t.Fatalf("update: ETag %q, body %s", r.header.Get("ETag"), r.body)
	}
	h.want("put another", h.do(adminA, "PUT", "/api/config/orders/db/pool", `{"value":5}`), http.StatusCreated)
	h.want("put in another service", h.do(adminA, "PUT", "/api/config/billing/db/url", `{"value":1}`), http.StatusCreated)

	list := h.want("list", h.do(userA, "GET", "/api/config?service=orders", ""), http.StatusOK).list(t)
	if len(list) != 2 || list[0]["key"] != "db/pool" || list[1]["key"] != "db/url" || list[1]["value"] != "postgres://db" {
		t.Fatalf("list: %v", list)
	}
	list = h.want("list by prefix", h.do(userA, "GET", "/api/config?prefix=db/u", ""), http.StatusOK).list(t)
	if len(list) != 2 || list[0]["service"] != "billing" || list[1]["service"] != "orders" {
		t.Fatalf("list by prefix: %v", list)
	}

	h.want("delete", h.do(adminA, "DELETE", path, ""), http.StatusNoContent)
	h.want("get deleted", h.do(userA, "GET", path, ""), http.StatusNotFound)
	h.want("delete twice", h.do(adminA, "DELETE", path, ""), http.StatusNotFound)
	if list := h.want("list after delete", h.do(userA, "GET", "/api/config?service=orders", ""), http.StatusOK).list(t); len(list) != 1 {
		t.Fatalf("list after delete: %v", list)
	}
	// Re-creating continues the numbering and is a creation again.
	r = h.want("re-create", h.do(adminA, "PUT", path, `{"value":true}`), http.StatusCreated)
	if r.header.Get("ETag") != `"4"` {
		t.Fatalf("re-create: ETag %q", r.header.Get("ETag"))
	}

	// Keys with slashes: a trailing /history is the history action on GET;
	// an encoded slash addresses such a key itself.
	h.want("put x/history", h.do(adminA, "PUT", "/api/config/orders/x/history", `{"value":"h"}`), http.StatusCreated)
	if r := h.want("get x%2Fhistory", h.do(userA, "GET", "/api/config/orders/x%2Fhistory", ""), http.StatusOK); r.json(t)["key"] != "x/history" {
		t.Fatalf("get x%%2Fhistory: %s", r.body)
	}
	h.want("history of x", h.do(userA, "GET", "/api/config/orders/x/history", ""), http.StatusNotFound)
	if list := h.want("history of x/history", h.do(userA, "GET", "/api/config/orders/x/history/history", ""), http.StatusOK).list(t); len(list) != 1 {
		t.Fatalf("history of x/history: %v", list)
	}
}

func TestConfigPreconditions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const path = "/api/config/orders/limit"
	h.want("create with If-None-Match", h.do(adminA, "PUT", path, `{"value":1}`, "If-None-Match", "*"), http.StatusCreated)
	r := h.want("create again with If-None-Match", h.do(adminA, "PUT", path, `{"value":2}`, "If-None-Match", "*"), http.StatusPreconditionFailed)
	if r.json(t)["type"] != "/problems/precondition" {
		t.Fatalf("412 body: %s", r.body)
	}
	h.want("update with If-Match 1", h.do(adminA, "PUT", path, `{"value":2}`, "If-Match", `"1"`), http.StatusOK)
	h.want("update with stale If-Match", h.do(adminA, "PUT", path, `{"value":3}`, "If-Match", `"1"`), http.StatusPreconditionFailed)
	h.want("update with bare If-Match 2", h.do(adminA, "PUT", path, `{"value":3}`, "If-Match", "2"), http.StatusOK)
	for _, bad := range [][]string{{"If-Match", "abc"}, {"If-Match", "*"}, {"If-Match", `W/"3"`}, {"If-Match", "0"},
		{"If-None-Match", `"3"`}, {"If-Match", "3", "If-None-Match", "*"}} {
		h.want("bad precondition "+strings.Join(bad, " "), h.do(adminA, "PUT", path, `{"value":4}`, bad...), http.StatusBadRequest)
	}
	h.want("delete with stale If-Match", h.do(adminA, "DELETE", path, "", "If-Match", `"2"`), http.StatusPreconditionFailed)
	h.want("delete with If-Match", h.do(adminA, "DELETE", path, "", "If-Match", `"3"`), http.StatusNoContent)
	h.want("update deleted with If-Match", h.do(adminA, "PUT", path, `{"value":5}`, "If-Match", `"4"`), http.StatusPreconditionFailed)
	if r := h.want("get", h.do(adminA, "GET", path+"/history", ""), http.StatusOK).list(t); len(r) != 4 {
		t.Fatalf("failed preconditions wrote versions: %v", r)
	}
}

func TestConfigHistoryDiffRollback(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const path = "/api/config/orders/feature"
	h.want("v1", h.do(adminA, "PUT", path, `{"value":{"a":1,"b":[1,2]},"comment":"first"}`), http.StatusCreated)
	h.want("v2", h.do(super, "PUT", path+"?tenant_id="+h.a.ID, `{"value":{"a":2,"b":[1,2],"c":true},"comment":"second"}`), http.StatusOK)

	history := h.want("history", h.do(userA, "GET", path+"/history", ""), http.StatusOK).list(t)
	if len(history) != 2 {
		t.Fatalf("history: %v", history)
	}
	for i, want := range []struct {
		version      float64
		author, name string
		comment      string
	}{{2, "u-super", "root", "second"}, {1, "u-admin-a", "alice", "first"}} {
		v := history[i]
		a, _ := v["author"].(map[string]any)
		if v["version"] != want.version || a["id"] != want.author || a["name"] != want.name || v["comment"] != want.comment ||
			v["deleted"] != false || v["created_at"] == nil {
			t.Fatalf("history[%d] = %v", i, v)
		}
	}

	const wantDiff = `--- orders/feature v1
+++ orders/feature v2
@@ -1,7 +1,8 @@
 {
-  "a": 1,
+  "a": 2,
   "b": [
     1,
     2
-  ]
+  ],
+  "c": true
 }
`
	for _, query := range []string{"?from=1&to=2", "", "?to=2"} {
		d := h.want("diff"+query, h.do(userA, "GET", path+"/diff"+query, ""), http.StatusOK).json(t)
		if d["from"] != 1.0 || d["to"] != 2.0 || d["diff"] != wantDiff {
			t.Fatalf("diff%s = %v\n%s", query, d, d["diff"])
		}
		if old, _ := d["old"].(map[string]any); old["a"] != 1.0 {
			t.Fatalf("diff%s: old = %v", query, d["old"])
		}
		if nw, _ := d["new"].(map[string]any); nw["c"] != true {
			t.Fatalf("diff%s: new = %v", query, d["new"])
		}
	}
	if d := h.want("diff of equal versions", h.do(userA, "GET", path+"/diff?from=2&to=2", ""), http.StatusOK).json(t); d["diff"] != "" {
		t.Fatalf("diff of a version with itself = %q", d["diff"])
	}
	h.want("diff bad from", h.do(userA, "GET", path+"/diff?from=x", ""), http.StatusUnprocessableEntity)
	h.want("diff unknown version", h.do(userA, "GET", path+"/diff?from=1&to=9", ""), http.StatusNotFound)

	r := h.want("rollback", h.do(adminA, "POST", path+"/rollback", `{"version":1}`), http.StatusOK)
	if e := r.json(t); e["version"] != 3.0 || !strings.Contains(string(r.body), `"value":{"a":1,"b":[1,2]},`) || r.header.Get("ETag") != `"3"` {
		t.Fatalf("rollback: %s", r.body)
	}
	history = h.want("history after rollback", h.do(userA, "GET", path+"/history", ""), http.StatusOK).list(t)
	if len(history) != 3 || history[0]["comment"] != "Rollback to version 1." {
		t.Fatalf("history after rollback: %v", history)
	}
	h.want("rollback with stale If-Match", h.do(adminA, "POST", path+"/rollback", `{"version":2}`, "If-Match", `"2"`), http.StatusPreconditionFailed)
	r = h.want("rollback with comment and If-Match", h.do(adminA, "POST", path+"/rollback", `{"version":2,"comment":"back to two"}`, "If-Match", `"3"`), http.StatusOK)
	if r.json(t)["version"] != 4.0 {
		t.Fatalf("rollback to 2: %s", r.body)
	}
	h.want("rollback to version 0", h.do(adminA, "POST", path+"/rollback", `{"version":0}`), http.StatusUnprocessableEntity)
	h.want("rollback to unknown version", h.do(adminA, "POST", path+"/rollback", `{"version":99}`), http.StatusNotFound)
	h.want("rollback without action", h.do(adminA, "POST", path, `{"version":1}`), http.StatusNotFound)
	h.want("delete", h.do(adminA, "DELETE", path, ""), http.StatusNoContent)
	h.want("rollback to the deletion", h.do(adminA, "POST", path+"/rollback", `{"version":5}`), http.StatusUnprocessableEntity)
	// Rolling back a deleted entry restores it.
	h.want("rollback restores", h.do(adminA, "POST", path+"/rollback", `{"version":4}`), http.StatusOK)
	d := h.want("diff with a deletion", h.do(userA, "GET", path+"/diff?from=5&to=6", ""), http.StatusOK).json(t)
	if d["old"] != nil || d["old_deleted"] != true || !strings.HasPrefix(d["diff"].(string), "--- orders/feature v5\n+++ orders/feature v6\n@@ -0,0 +1,") {
		t.Fatalf("diff from a deletion = %v", d)
	}
}

func TestConfigAccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const entry = "/api/config/orders/secret"
	h.want("seed A", h.do(adminA, "PUT", entry, `{"value":"a-secret","comment":"seed"}`), http.StatusCreated)
	inA := "?tenant_id=" + h.a.ID
	tests := []struct {
		name, token, method, path, body string
		status                          int
	}{
		// Tenant B's admin never sees A's entries.
		{"B admin gets A's entry", adminB, "GET", entry + inA, "", http.StatusNotFound},
		{"B admin lists A", adminB, "GET", "/api/config" + inA, "", http.StatusNotFound},
		{"B admin writes A's entry", adminB, "PUT", entry + inA, `{"value":"b"}`, http.StatusNotFound},
		{"B admin deletes A's entry", adminB, "DELETE", entry + inA, "", http.StatusNotFound},
		{"B admin reads A's history", adminB, "GET", entry + "/history" + inA, "", http.StatusNotFound},
		{"B admin diffs A's entry", adminB, "GET", entry + "/diff" + inA, "", http.StatusNotFound},
		{"B admin rolls back A's entry", adminB, "POST", entry + "/rollback" + inA, `{"version":1}`, http.StatusNotFound},
		{"B admin watches A", adminB, "GET", "/api/config/watch" + inA, "", http.StatusNotFound},
		{"B admin's own scope has no such entry", adminB, "GET", entry, "", http.StatusNotFound},
		// A user reads but does not write.
		{"user reads", userA, "GET", entry, "", http.StatusOK},
		{"user reads history", userA, "GET", entry + "/history", "", http.StatusOK},
		{"user writes", userA, "PUT", entry, `{"value":"u"}`, http.StatusForbidden},
		{"user deletes", userA, "DELETE", entry, "", http.StatusForbidden},
		{"user rolls back", userA, "POST", entry + "/rollback", `{"version":1}`, http.StatusForbidden},
		// The global configuration: anyone reads, a super admin writes.
		{"A admin writes global", adminA, "PUT", "/api/config/orders/g?scope=global", `{"value":1}`, http.StatusForbidden},
		{"super admin writes global", super, "PUT", "/api/config/orders/g?scope=global", `{"value":1}`, http.StatusCreated},
		{"user reads global", userA, "GET", "/api/config/orders/g?scope=global", "", http.StatusOK},
		{"B admin reads global", adminB, "GET", "/api/config/orders/g?scope=global", "", http.StatusOK},
		{"B admin deletes global", adminB, "DELETE", "/api/config/orders/g?scope=global", "", http.StatusForbidden},
		{"global is not tenant A", userA, "GET", "/api/config/orders/g", "", http.StatusNotFound},
		// A super admin reaches any tenant, and no tenant that does not exist.
		{"super admin reads A", super, "GET", entry + inA, "", http.StatusOK},
		{"super admin writes B", super, "PUT", entry + "?tenant_id=" + h.b.ID, `{"value":"b"}`, http.StatusCreated},
		{"super admin writes an unknown tenant", super, "PUT", entry + "?tenant_id=nope", `{"value":1}`, http.StatusNotFound},
		{"B admin reads B", adminB, "GET", entry, "", http.StatusOK},
		{"no token", "", "GET", entry, "", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.want(tc.name, h.do(tc.token, tc.method, tc.path, tc.body), tc.status)
		})
	}
	h.t = t
	r := h.want("A's entry afterwards", h.do(adminA, "GET", entry, ""), http.StatusOK)
	if e := r.json(t); e["value"] != "a-secret" || e["version"] != 1.0 {
		t.Fatalf("A's entry changed: %s", r.body)
	}
	if r := h.want("B's entry", h.do(adminB, "GET", entry, ""), http.StatusOK); r.json(t)["value"] != "b" {
		t.Fatalf("B's entry: %s", r.body)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name, method, path, body, field string
	}{
		{"bad key", "PUT", "/api/config/orders/bad%20key", `{"value":1}`, "key"},
		{"key starting with a dot", "PUT", "/api/config/orders/.hidden", `{"value":1}`, "key"},
		{"bad service", "PUT", "/api/config/Orders/k", `{"value":1}`, "service"},
		{"no value", "PUT", "/api/config/orders/k", `{"comment":"x"}`, "value"},
		{"value too large", "PUT", "/api/config/orders/k", `{"value":"` + strings.Repeat("x", core.MaxConfigValue) + `"}`, "value"},
		{"unknown field", "PUT", "/api/config/orders/k", `{"value":1,"valu":2}`, "valu"},
		{"long comment", "PUT", "/api/config/orders/k", `{"value":1,"comment":"` + strings.Repeat("c", 2000) + `"}`, "comment"},
		{"bad scope", "GET", "/api/config/orders/k?scope=planet", "", "scope"},
		{"global with a tenant", "GET", "/api/config/orders/k?scope=global&tenant_id=x", "", "tenant_id"},
		{"bad key on get", "GET", "/api/config/orders/a%20b", "", "key"},
		{"bad service on list", "GET", "/api/config?service=Orders", "", "service"},
		{"bad service on watch", "GET", "/api/config/watch?service=Orders", "", "service"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			r := h.want(tc.name, h.do(adminA, tc.method, tc.path, tc.body), http.StatusUnprocessableEntity)
			if errs, _ := r.json(t)["errors"].(map[string]any); errs[tc.field] == nil {
				t.Fatalf("problem does not name %s: %s", tc.field, r.body)
			}
		})
	}
	h.t = t
	h.want("body not JSON", h.do(adminA, "PUT", "/api/config/orders/k", `{"value": nope}`), http.StatusBadRequest)
	if list := h.want("list", h.do(adminA, "GET", "/api/config", ""), http.StatusOK).list(t); len(list) != 0 {
		t.Fatalf("invalid writes stored entries: %v", list)
	}
}

func TestConfigAudit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const path = "/api/config/orders/password"
	h.want("put", h.do(adminA, "PUT", path, `{"value":"hunter2","comment":"rotate"}`), http.StatusCreated)
	h.want("put", h.do(adminA, "PUT", path, `{"value":"hunter3"}`), http.StatusOK)
	h.want("rollback", h.do(adminA, "POST", path+"/rollback", `{"version":1}`), http.StatusOK)
	h.want("delete", h.do(adminA, "DELETE", path, ""), http.StatusNoContent)
	h.want("global put", h.do(super, "PUT", "/api/config/orders/g?scope=global", `{"value":"hunter4"}`), http.StatusCreated)
	entries, err := h.store.ListAudit(context.Background(), core.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if strings.Contains(string(e.Details), "hunter") {
			t.Fatalf("audit details hold the value: %s", e.Details)
		}
		var d struct {
			Version int    `json:"version"`
			Comment string `json:"comment"`
		}
		if err := json.Unmarshal(e.Details, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s|%s|v%d", e.TenantID, e.ActorID, e.Action, e.ObjectType, e.ObjectID, d.Comment, d.Version))
	}
	a := h.a.ID
	want := []string{
		a + "|u-admin-a|config.put|config|orders/password|rotate|v1",
		a + "|u-admin-a|config.put|config|orders/password||v2",
		a + "|u-admin-a|config.rollback|config|orders/password|Rollback to version 1.|v3",
		a + "|u-admin-a|config.delete|config|orders/password||v4",
		"|u-super|config.put|config|orders/g||v1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// watch opens a watch on a replica and returns its events.
func (h *harness) watch(replica int, token, query string) <-chan testenv.SSEEvent {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", h.replicas[replica].URL+"/api/config/watch"+query, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		h.t.Fatalf("watch: status %d, %s", res.StatusCode, b)
	}
	return testenv.SSEEvents(res, 16)
}

func TestConfigWatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const value = "{\n  \"pool\": 5,\n  \"url\": \"<db>\"\n}" // stored with line breaks
	h.want("seed", h.do(adminA, "PUT", "/api/config/orders/db", `{"value":`+value+`}`), http.StatusCreated)
	h.want("other service", h.do(adminA, "PUT", "/api/config/billing/db", `{"value":1}`), http.StatusCreated)

	// Watch on the second replica; write through the first.
	events := h.watch(1, userA, "?service=orders")
	snap := testenv.NextSSE(t, events, time.Second)
	if snap.Event != "snapshot" {
		t.Fatalf("first event = %+v", snap)
	}
	var s struct {
		Scope    string            `json:"scope"`
		TenantID string            `json:"tenant_id"`
		Service  string            `json:"service"`
		Entries  []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(snap.Data, &s); err != nil {
		t.Fatalf("snapshot %s: %v", snap.Data, err)
	}
	if s.Scope != "tenant" || s.TenantID != h.a.ID || s.Service != "orders" || len(s.Entries) != 1 ||
		!strings.Contains(string(s.Entries[0]), `"value":`+value+`,`) {
		t.Fatalf("snapshot = %s", snap.Data)
	}

	// Writes the watch does not cover: another tenant, another service, global.
	// (Tenant B's and the global entry get past version 1, the version the
	// watch knows of tenant A's, so that only scope filtering stops them.)
	h.want("tenant B", h.do(adminB, "PUT", "/api/config/orders/db", `{"value":"b"}`), http.StatusCreated)
	h.want("tenant B again", h.do(adminB, "PUT", "/api/config/orders/db", `{"value":"b2"}`), http.StatusOK)
	h.want("tenant B, once more", h.do(adminB, "PUT", "/api/config/orders/db", `{"value":"b3"}`), http.StatusOK)
	h.want("billing", h.do(adminA, "PUT", "/api/config/billing/db", `{"value":2}`), http.StatusOK)
	h.want("global", h.do(super, "PUT", "/api/config/orders/db?scope=global", `{"value":"g0"}`), http.StatusCreated)
	h.want("global again", h.do(super, "PUT", "/api/config/orders/db?scope=global", `{"value":"g"}`), http.StatusOK)

	start := time.Now()
	h.want("update", h.do(adminA, "PUT", "/api/config/orders/db", `{"value": {"pool": 6}}`), http.StatusOK)
	ev := testenv.NextSSE(t, events, time.Second)
	var ch map[string]any
	if err := json.Unmarshal(ev.Data, &ch); err != nil {
		t.Fatal(err)
	}
	if ev.Event != "change" || ch["scope"] != "tenant" || ch["tenant_id"] != h.a.ID || ch["service"] != "orders" ||
		ch["key"] != "db" || ch["version"] != 2.0 || ch["deleted"] != false || !strings.Contains(string(ev.Data), `"value":{"pool": 6}`) {
		t.Fatalf("change event = %+v", ev)
	}
	t.Logf("change arrived %v after the write started", time.Since(start))

	h.want("delete", h.do(adminA, "DELETE", "/api/config/orders/db", ""), http.StatusNoContent)
	ev = testenv.NextSSE(t, events, time.Second)
	if err := json.Unmarshal(ev.Data, &ch); err != nil {
		t.Fatal(err)
	}
	if ev.Event != "change" || ch["version"] != 3.0 || ch["deleted"] != true || ch["value"] != nil {
		t.Fatalf("delete event = %+v", ev)
	}

	// A global watch sees the global write made before it as a snapshot.
	global := h.watch(0, adminB, "?scope=global")
	if ev := testenv.NextSSE(t, global, time.Second); ev.Event != "snapshot" || !strings.Contains(string(ev.Data), `"value":"g"`) {
		t.Fatalf("global snapshot = %+v", ev)
	}
	h.want("global update", h.do(super, "PUT", "/api/config/orders/db?scope=global", `{"value":"g2"}`), http.StatusOK)
	if ev := testenv.NextSSE(t, global, time.Second); ev.Event != "change" || !strings.Contains(string(ev.Data), `"value":"g2"`) {
		t.Fatalf("global change = %+v", ev)
	}
}

// TestConfigWatchRedis has each replica publish and subscribe through its
// own Redis client, as separate processes do.
func TestConfigWatchRedis(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.RedisURL(t)
	h := newHarnessWith(t, func() ephemeral.PubSub {
		r, err := ephemeral.OpenRedis(context.Background(), url, prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
	events := h.watch(1, adminA, "?service=orders")
	if ev := testenv.NextSSE(t, events, time.Second); ev.Event != "snapshot" || !strings.Contains(string(ev.Data), `"entries":[]`) {
		t.Fatalf("snapshot = %+v", ev)
	}
	start := time.Now()
	h.want("put", h.do(adminA, "PUT", "/api/config/orders/flag", `{"value": [true, "<x>"]}`), http.StatusCreated)
	ev := testenv.NextSSE(t, events, time.Second)
	if ev.Event != "change" || !strings.Contains(string(ev.Data), `"key":"flag","version":1,"deleted":false,"value":[true, "<x>"]`) {
		t.Fatalf("change = %+v", ev)
	}
	t.Logf("change arrived through Redis %v after the write started", time.Since(start))
}

// lossyPubSub delivers nothing: every notification is lost, as while Redis
// is down (its Publish error is only logged by the writer).
type lossyPubSub struct{ ephemeral.PubSub }

func (lossyPubSub) Publish(context.Context, string, []byte) error {
	return errors.New("redis: connection refused")
}

// TestConfigWatchResyncsLostChanges performs issue 12's finding 3: a change
// written while notifications are lost used to leave open watches on the
// old value for good; the watch's resync finds it and asks the client to
// reconnect, and the snapshot it then reads has the new value.
func TestConfigWatchResyncsLostChanges(t *testing.T) {
	t.Parallel()
	mem := ephemeral.NewMemory()
	t.Cleanup(func() { mem.Close() })
	h := newHarnessWith(t, func() ephemeral.PubSub { return lossyPubSub{mem} },
		func(o *Options) { o.WatchResync = 100 * time.Millisecond })
	h.want("seed", h.do(adminA, "PUT", "/api/config/orders/db", `{"value":1}`), http.StatusCreated)
	events := h.watch(1, userA, "?service=orders")
	if ev := testenv.NextSSE(t, events, time.Second); ev.Event != "snapshot" {
		t.Fatalf("first event = %+v", ev)
	}
	for _, tc := range []struct{ name, method, path, body string }{
		{"update", "PUT", "/api/config/orders/db", `{"value":2}`},
		{"new key", "PUT", "/api/config/orders/flag", `{"value":true}`},
		{"delete", "DELETE", "/api/config/orders/db", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.do(adminA, tc.method, tc.path, tc.body)
			if ev := testenv.NextSSE(t, events, 2*time.Second); ev.Event != "reconnect" {
				t.Fatalf("after a lost notification: %+v; want reconnect", ev)
			}
			events = h.watch(1, userA, "?service=orders")
			if ev := testenv.NextSSE(t, events, time.Second); ev.Event != "snapshot" {
				t.Fatalf("after reconnecting: %+v", ev)
			}
		})
	}
	// Nothing changed: no reconnect (the resync ran several times meanwhile).
	select {
	case ev := <-events:
		t.Fatalf("resync without a change sent %+v", ev)
	case <-time.After(400 * time.Millisecond):
	}
}

func TestConfigWatchWithoutChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.want("seed", h.do(adminA, "PUT", "/api/config/orders/db", `{"value":1}`), http.StatusCreated)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := httpx.NewRouter(logger)
	New(h.store, stubIdentity{tokens: map[string]*auth.Claims{userA: {
		RegisteredClaims: jwt.RegisteredClaims{Subject: "u"}, TenantID: h.a.ID, Roles: []string{"user"}}}}, logger, Options{}).Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	h.replicas = []*httptest.Server{srv}
	if ev := testenv.NextSSE(t, h.watch(0, userA, ""), time.Second); ev.Event != "snapshot" || !strings.Contains(string(ev.Data), `"key":"db"`) {
		t.Fatalf("snapshot = %+v", ev)
	}
}
