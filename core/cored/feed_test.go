package cored_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core/sqlstore"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/internal/testenv"
)

// feedToken is the change feed token the tests configure.
const feedToken = "feed-token-of-the-tests-0123456789"

// feedEnv is env with the feed token and a master key, so that replicas
// sharing a database can read each other's signing keys.
func feedEnv(env map[string]string) map[string]string {
	out := maps.Clone(env)
	out["PLUGBOARD_CORE_FEED_TOKEN"] = feedToken
	out["PLUGBOARD_CORE_MASTER_KEY"] = "master-key-of-the-feed-tests"
	return out
}

// follower reads one change feed stream.
type follower struct {
	t      testing.TB
	events <-chan testenv.SSEEvent
	last   int64 // revision of the last change frame read (or of a reset)
}

// openFeed sends GET /api/auth/changes with query and header (the feed
// token when header is empty) and returns the answer's status and, for a
// 200, the stream.
func (c *coreServer) openFeed(t testing.TB, query string, header ...string) (int, *follower) {
	t.Helper()
	if len(header) == 0 {
		header = []string{"Authorization", "Bearer " + feedToken}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", c.URL+corefeed.Path+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		r := testenv.Read(t, resp)
		if r.Status/100 == 4 {
			r.Problem(t)
		}
		return r.Status, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("change feed Content-Type %q", ct)
	}
	return 200, &follower{t: t, events: testenv.SSEEvents(resp, 256), last: -1}
}

// follow opens the change feed with the feed token, failing unless 200.
func (c *coreServer) follow(t testing.TB, query string, header ...string) *follower {
	t.Helper()
	status, f := c.openFeed(t, query, header...)
	if status != 200 {
		t.Fatalf("GET %s%s: %d", corefeed.Path, query, status)
	}
	return f
}

// frame returns the next frame: its name, and its change or position.
func (f *follower) frame() (string, corefeed.Event, int64) {
	f.t.Helper()
	ev := testenv.NextSSE(f.t, f.events, 10*time.Second)
	switch ev.Event {
	case corefeed.FrameChange:
		var c corefeed.Event
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			f.t.Fatalf("change frame %s: %v", ev.Data, err)
		}
		if ev.ID != strconv.FormatInt(c.Revision, 10) {
			f.t.Fatalf("change frame id %q, revision %d", ev.ID, c.Revision)
		}
		if f.last >= 0 && c.Revision != f.last+1 {
			f.t.Fatalf("change %d after %d: a gap or a repeat", c.Revision, f.last)
		}
		f.last = c.Revision
		return ev.Event, c, c.Revision
	case corefeed.FrameReset, corefeed.FrameHeartbeat:
		if ev.ID != "" {
			f.t.Fatalf("%s frame with id %q", ev.Event, ev.ID)
		}
		var p corefeed.Position
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			f.t.Fatalf("%s frame %s: %v", ev.Event, ev.Data, err)
		}
		if ev.Event == corefeed.FrameReset || f.last < 0 {
			f.last = p.Revision
		}
		return ev.Event, corefeed.Event{}, p.Revision
	}
	f.t.Fatalf("unexpected frame %+v", ev)
	return "", corefeed.Event{}, 0
}

// change returns the next change, skipping heartbeats.
func (f *follower) change() corefeed.Event {
	f.t.Helper()
	for {
		name, ev, _ := f.frame()
		switch name {
		case corefeed.FrameChange:
			return ev
		case corefeed.FrameReset:
			f.t.Fatal("a reset in the middle of a stream")
		}
	}
}

// backlog reads a stream's start up to its first heartbeat: whether it
// began with a reset, and the changes before the heartbeat.
func (f *follower) backlog() (reset bool, changes []corefeed.Event) {
	f.t.Helper()
	for first := true; ; first = false {
		name, ev, rev := f.frame()
		switch name {
		case corefeed.FrameReset:
			if !first {
				f.t.Fatal("a reset after the first frame")
			}
			reset = true
		case corefeed.FrameChange:
			changes = append(changes, ev)
		case corefeed.FrameHeartbeat:
			if rev != f.last {
				f.t.Fatalf("heartbeat revision %d after change %d", rev, f.last)
			}
			return reset, changes
		}
	}
}

// sessionOf returns the sid claim of an access token.
func sessionOf(t testing.TB, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body, &c); err != nil || c.SID == "" {
		t.Fatalf("no sid in %s: %v", body, err)
	}
	return c.SID
}

// TestChangeFeed makes each change the feed carries by its real HTTP action
// on replica a and reads it on a stream of replica b: in revision order,
// without gaps, and nothing for refused or no-op actions. With PostgreSQL
// and Redis a and b are two replicas sharing both; embedded (SQLite,
// in-process pub/sub) they are one.
func TestChangeFeed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		env := feedEnv(be.env(t))
		a := start(t, env)
		b := a
		if env["PLUGBOARD_DATABASE_URL"] != "" {
			envB := maps.Clone(env)
			envB["PLUGBOARD_DATA_DIR"] = t.TempDir()
			b = start(t, envB)
		}
		// A new follower gets a reset, then every change kept: the
		// signing key core made on its first start among them.
		f := b.follow(t, "")
		reset, kept := f.backlog()
		if !reset || !slices.ContainsFunc(kept, func(ev corefeed.Event) bool { return ev.Kind == corefeed.SigningKeys }) {
			t.Fatalf("first connection: reset %v, kept %+v; want a reset and the first signing key", reset, kept)
		}
		w := setup(t, a) // creating tenants, users, keys and logging in change nothing a gateway caches
		want := func(what string, kind corefeed.Kind, check func(ev corefeed.Event) bool) {
			t.Helper()
			ev := f.change()
			if ev.Kind != kind || (check != nil && !check(ev)) || ev.At.IsZero() {
				t.Fatalf("%s: got %+v, want %s", what, ev, kind)
			}
		}
		do := func(method, path, token string, body any, status int) {
			t.Helper()
			if r := a.do(method, path, token, body); r.Status != status {
				t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, status)
			}
		}
		user := func(id, tenant string) func(corefeed.Event) bool {
			return func(ev corefeed.Event) bool { return ev.UserID == id && ev.TenantID == tenant }
		}
		tenant := func(id string) func(corefeed.Event) bool {
			return func(ev corefeed.Event) bool { return ev.TenantID == id }
		}

		do("PUT", "/api/tenants/"+w.tenantA+"/services/billing", w.super, nil, 200)
		want("enable a service", corefeed.TenantServices, func(ev corefeed.Event) bool {
			return ev.TenantID == w.tenantA && slices.Equal(ev.Services, []string{"orders", "billing"})
		})
		do("PUT", "/api/tenants/"+w.tenantA+"/services/billing", w.super, nil, 200) // already enabled: no change
		do("PUT", "/api/tenants/"+w.tenantB+"/services/orders", w.aAdmin, nil, 403) // refused: no change
		do("DELETE", "/api/tenants/"+w.tenantA+"/services/billing", w.super, nil, 200)
		want("disable a service", corefeed.TenantServices, func(ev corefeed.Event) bool {
			return ev.TenantID == w.tenantA && slices.Equal(ev.Services, []string{"orders"})
		})
		do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"display_name": "Globex Corp"}, 200)
		want("rename a tenant", corefeed.TenantChanged, tenant(w.tenantB))
		do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"rate_limit": map[string]any{"requests": 5, "per": "1m", "key": "tenant"}}, 200)
		want("set a tenant's quota", corefeed.TenantChanged, tenant(w.tenantB))
		do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"rate_limit": nil}, 200)
		want("clear a tenant's quota", corefeed.TenantChanged, tenant(w.tenantB))

		// Deactivating a user: its row, then its sessions.
		do("PATCH", "/api/users/"+w.aUserID, w.super, map[string]any{"is_active": false}, 200)
		want("deactivate a user", corefeed.UserRevoked, user(w.aUserID, w.tenantA))
		want("end a deactivated user's sessions", corefeed.UserRevoked, user(w.aUserID, w.tenantA))
		do("PATCH", "/api/users/"+w.bAdminID, w.super, map[string]any{"role": "user"}, 200)
		want("demote a user", corefeed.UserRevoked, user(w.bAdminID, w.tenantB))
		want("end a demoted user's sessions", corefeed.UserRevoked, user(w.bAdminID, w.tenantB))
		do("PATCH", "/api/users/"+w.bAdminID, w.super, map[string]any{"email": "bob@globex.example"}, 200) // no decision changes
		do("DELETE", "/api/users/"+w.aUserID, w.super, nil, 204)
		want("delete a user", corefeed.UserRevoked, user(w.aUserID, w.tenantA))
		do("POST", "/api/auth/password", w.bUser, map[string]string{"current_password": "password-bill", "new_password": "password-bill-2"}, 204)
		want("change a password", corefeed.UserRevoked, user(w.bUserID, w.tenantB))
		want("end the sessions of a new password", corefeed.UserRevoked, user(w.bUserID, w.tenantB))

		// Sessions: logout, and a refresh token used twice.
		alice := a.login("acme", "alice", "password-alice")
		do("POST", "/api/auth/logout", alice.AccessToken, nil, 204)
		want("logout", corefeed.SessionRevoked, func(ev corefeed.Event) bool {
			return ev.SessionID == sessionOf(t, alice.AccessToken) && ev.UserID == w.aAdminID && ev.TenantID == w.tenantA
		})
		do("POST", "/api/auth/logout", alice.AccessToken, nil, 204) // ended already: no change
		alice = a.login("acme", "alice", "password-alice")
		do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": alice.RefreshToken}, 200)
		do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": alice.RefreshToken}, 401)
		want("refresh-token reuse", corefeed.SessionRevoked, func(ev corefeed.Event) bool {
			return ev.SessionID == sessionOf(t, alice.AccessToken) && ev.UserID == w.aAdminID
		})

		do("DELETE", "/api/api-keys/"+w.bKeyID, w.super, nil, 204)
		want("revoke an API key", corefeed.APIKeyRevoked, func(ev corefeed.Event) bool {
			return ev.KeyID == w.bKeyID && ev.UserID == w.bAdminID && ev.TenantID == w.tenantB
		})
		do("DELETE", "/api/api-keys/"+w.bKeyID, w.super, nil, 204) // revoked already: no change

		do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"is_active": false}, 200)
		want("deactivate a tenant", corefeed.TenantRevoked, tenant(w.tenantB))
		do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"is_active": true}, 200)
		want("reactivate a tenant", corefeed.TenantChanged, tenant(w.tenantB))
		do("DELETE", "/api/tenants/"+w.tenantB, w.super, nil, 409) // still has users: no change
		tenantC := a.mustCreate("/api/tenants", w.super, map[string]any{"name": "initech"})
		do("DELETE", "/api/tenants/"+tenantC, w.super, nil, 204)
		want("delete a tenant", corefeed.TenantRevoked, tenant(tenantC))

		// Reserved configuration: only global entries travel.
		routing := "/api/config/gateway/plugboard.routing"
		do("PUT", routing+"?scope=global", w.aAdmin, map[string]any{"value": 1}, 403)
		do("PUT", routing+"?scope=global", w.super, map[string]any{"value": map[string]any{"weights": []int{90, 10}}}, 422) // not routing rules (registry.ValidateRoutingJSON): no change
		do("PUT", routing+"?scope=global", w.super, map[string]any{"value": map[string]any{"weights": map[string]int{"v1": 90, "v2": 10}}}, 201)
		want("put a reserved key", corefeed.Config, func(ev corefeed.Event) bool {
			return ev.Service == "gateway" && ev.Key == "plugboard.routing" && ev.Version == 1 && !ev.Deleted &&
				string(ev.Value) == `{"weights":{"v1":90,"v2":10}}`
		})
		do("PUT", "/api/config/gateway/other?scope=global", w.super, map[string]any{"value": 1}, 201)                    // not reserved
		do("PUT", routing+"?scope=tenant&tenant_id="+w.tenantA, w.super, map[string]any{"value": map[string]any{}}, 201) // not global
		if r := testenv.Do(t, "PUT", a.URL+routing+"?scope=global", map[string]any{"value": map[string]any{}},
			"Authorization", "Bearer "+w.super, "If-Match", `"7"`); r.Status != 412 { // a failed precondition: no change
			t.Fatalf("stale If-Match: %d %s", r.Status, r.Body)
		}
		do("DELETE", routing+"?scope=global", w.super, nil, 204)
		want("delete a reserved key", corefeed.Config, func(ev corefeed.Event) bool {
			return ev.Key == "plugboard.routing" && ev.Version == 2 && ev.Deleted && ev.Value == nil
		})
		do("POST", routing+"/rollback?scope=global", w.super, map[string]any{"version": 1}, 200)
		want("roll a reserved key back", corefeed.Config, func(ev corefeed.Event) bool {
			return ev.Key == "plugboard.routing" && ev.Version == 3 && string(ev.Value) == `{"weights":{"v1":90,"v2":10}}`
		})
		last := f.last

		// What a follower loads at start and after a reset: the reserved
		// global entries, for the feed's credentials only.
		if r := testenv.Do(t, "GET", a.URL+corefeed.ConfigPath, nil, "Authorization", "Bearer "+feedToken); r.Status != 200 ||
			!strings.Contains(string(r.Body), `"key":"plugboard.routing"`) || !strings.Contains(string(r.Body), `"version":3`) ||
			strings.Contains(string(r.Body), `"key":"other"`) || strings.Contains(string(r.Body), `"scope":"tenant"`) {
			t.Fatalf("reserved entries with the feed token: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "GET", a.URL+corefeed.ConfigPath, nil, "Authorization", "Bearer "+w.aAdmin); r.Status != 403 {
			t.Fatalf("reserved entries for a tenant_admin: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "GET", a.URL+corefeed.ConfigPath, nil); r.Status != 401 {
			t.Fatalf("reserved entries without a credential: %d %s", r.Status, r.Body)
		}

		// Resuming: Last-Event-ID or ?after= gets only later changes, no
		// reset; a revision ahead of core starts over.
		g := a.follow(t, "", "Authorization", "Bearer "+feedToken, "Last-Event-ID", strconv.FormatInt(last-2, 10))
		if reset, changes := g.backlog(); reset || len(changes) != 2 || changes[0].Revision != last-1 || changes[1].Kind != corefeed.Config {
			t.Fatalf("resume after %d: reset %v, %+v", last-2, reset, changes)
		}
		if reset, changes := a.follow(t, "?after="+strconv.FormatInt(last, 10)).backlog(); reset || len(changes) != 0 {
			t.Fatalf("resume at the latest revision: reset %v, %+v", reset, changes)
		}
		if reset, _ := a.follow(t, "?after="+strconv.FormatInt(last+1000, 10)).backlog(); !reset {
			t.Fatal("a revision ahead of core did not start over")
		}

		// A follower older than the oldest change kept starts over: a
		// reset, then every change kept (none, once all are pruned).
		store, err := sqlstore.Open(context.Background(), storage.Options{URL: env["PLUGBOARD_DATABASE_URL"],
			DataDir: env["PLUGBOARD_DATA_DIR"], Name: "core"})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		if n, err := store.PruneChanges(context.Background(), time.Now().Add(time.Second)); err != nil || n < int(last) {
			t.Fatalf("prune: %d, %v", n, err)
		}
		old := b.follow(t, "?after=1")
		if reset, changes := old.backlog(); !reset || len(changes) != 0 || old.last != last {
			t.Fatalf("after pruning: reset %v at %d, %+v; want a reset at %d", reset, old.last, changes, last)
		}
		// Every stream goes on with the next change, pruned or not.
		do("PUT", "/api/tenants/"+w.tenantA+"/services/billing", w.super, nil, 200)
		for _, fl := range []*follower{f, g, old} {
			if ev := fl.change(); ev.Revision != last+1 || ev.Kind != corefeed.TenantServices {
				t.Fatalf("next change: %+v", ev)
			}
		}
		if reset, changes := b.follow(t, "").backlog(); !reset || len(changes) != 1 || changes[0].Revision != last+1 {
			t.Fatalf("new follower after pruning: reset %v, %+v; want the one change kept", reset, changes)
		}
	})
}

// newKey creates an API key with scopes as token's user and returns its
// secret.
func (c *coreServer) newKey(token, name string, scopes ...string) string {
	c.t.Helper()
	r := c.do("POST", "/api/api-keys", token, map[string]any{"name": name, "scopes": scopes})
	if r.Status != 201 {
		c.t.Fatalf("create key %s: %d %s", name, r.Status, r.Body)
	}
	var created struct{ Key string }
	r.Decode(c.t, &created)
	return created.Key
}

// TestChangeFeedAuth performs the attacks on the change feed: no
// credential, a wrong token, a tenant_admin's token, keys that do not act
// as a super_admin (refused: 401 or 403, as problem+json). The feed token
// and a super_admin's credential are let in, and a super_admin's stream
// ends once its user is demoted.
func TestChangeFeedAuth(t *testing.T) {
	t.Parallel()
	s := start(t, feedEnv(backends[0].env(t)))
	w := setup(t, s)
	superKey := s.newKey(w.super, "feed-admin", "core:admin")
	superReadKey := s.newKey(w.super, "feed-read", "orders:read")
	adminKey := s.newKey(w.aAdmin, "feed-tenant-admin", "core:admin")
	for _, tc := range []struct {
		what   string
		header []string
		want   int
	}{
		{"no credential", []string{"X-Nothing", "x"}, 401},
		{"a wrong bearer token", []string{"Authorization", "Bearer " + feedToken + "x"}, 401},
		{"the feed token as an API key", []string{"X-API-Key", feedToken}, 401},
		{"the feed token and a key", []string{"Authorization", "Bearer " + feedToken, "X-API-Key", superKey}, 401},
		{"a tenant_admin's token", []string{"Authorization", "Bearer " + w.aAdmin}, 403},
		{"a user's token", []string{"Authorization", "Bearer " + w.aUser}, 403},
		{"a tenant_admin's core:admin key", []string{"X-API-Key", adminKey}, 403},
		{"a super_admin's key without core:admin", []string{"X-API-Key", superReadKey}, 403},
		{"a tenant key", []string{"X-API-Key", w.bKey}, 403},
		{"the feed token", []string{"Authorization", "Bearer " + feedToken}, 200},
		{"a super_admin's token", []string{"Authorization", "Bearer " + w.super}, 200},
		{"a super_admin's core:admin key", []string{"Authorization", "ApiKey " + superKey}, 200},
	} {
		if status, _ := s.openFeed(t, "", tc.header...); status != tc.want {
			t.Errorf("%s: %d, want %d", tc.what, status, tc.want)
		}
	}
	if r := s.do("GET", corefeed.Path, "", nil); r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}

	// A second super_admin follows with its own token, then is demoted:
	// its stream ends (at the next check, 5 s) and it cannot reconnect.
	tenant := s.do("GET", "/api/auth/me", w.super, nil)
	var me struct{ Tenant struct{ ID string } }
	tenant.Decode(t, &me)
	rootID := s.mustCreate("/api/users", w.super, map[string]any{"tenant_id": me.Tenant.ID, "username": "root2",
		"password": "password-root2", "role": "super_admin"})
	root := s.login("default", "root2", "password-root2").AccessToken
	f := s.follow(t, "", "Authorization", "Bearer "+root)
	f.backlog()
	if r := s.do("PATCH", "/api/users/"+rootID, w.super, map[string]any{"role": "tenant_admin"}); r.Status != 200 {
		t.Fatalf("demote: %d %s", r.Status, r.Body)
	}
	for ended := false; !ended; {
		select {
		case _, ok := <-f.events:
			ended = !ok
		case <-time.After(15 * time.Second):
			t.Fatal("a demoted super_admin's stream goes on")
		}
	}
	// Its session ended with the role change: 401 (a fresh login as a
	// tenant_admin would get 403).
	if status, _ := s.openFeed(t, "", "Authorization", "Bearer "+root); status != 401 {
		t.Fatalf("a demoted super_admin reconnects: %d", status)
	}
}

// TestFeedTokenFile: without PLUGBOARD_CORE_FEED_TOKEN core keeps a
// generated token in core-feed.token in its data directory (0600), for the
// gateway to read, and keeps it across restarts.
func TestFeedTokenFile(t *testing.T) {
	t.Parallel()
	env := backends[0].env(t)
	s := start(t, env)
	path := filepath.Join(env["PLUGBOARD_DATA_DIR"], corefeed.TokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi, err)
	}
	token := strings.TrimSpace(string(b))
	s.follow(t, "", "Authorization", "Bearer "+token).backlog()
	again := start(t, env)
	again.follow(t, "", "Authorization", "Bearer "+token).backlog()
}
