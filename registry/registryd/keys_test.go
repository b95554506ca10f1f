package registryd_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core/coretest"
	"github.com/plugboard/plugboard/internal/testenv"
)

// TestAPIKeysRegister registers with core API keys instead of the registry
// token: a key with registry:write may, one without may not, and a revoked
// key stops working within the cache TTL.
func TestAPIKeysRegister(t *testing.T) {
	t.Parallel()
	hs := coretest.Start(t, coretest.Options{})
	post := func(path, token string, body any) map[string]any { return coretest.Post(t, hs.URL+path, token, body) }
	admin := coretest.Login(t, hs.URL, "admin", coretest.AdminPassword)
	writer := post("/api/api-keys", admin, map[string]any{"name": "plugin", "scopes": []string{"registry:write"}})
	reader := post("/api/api-keys", admin, map[string]any{"name": "reader", "scopes": []string{"registry:read"}})

	rp := start(t, backends[0].env(t), "PLUGBOARD_CORE_URL", hs.URL, "PLUGBOARD_REGISTRY_KEY_CACHE_TTL", "200ms")
	register := func(key string) int {
		b, _ := json.Marshal(serviceConfig("orders", 9001))
		req, _ := http.NewRequest("POST", rp.URL+"/api/registry/register", bytes.NewReader(b))
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := register(writer["key"].(string)); got != 201 {
		t.Fatalf("register with a registry:write key: %d", got)
	}
	if got := register(reader["key"].(string)); got != 403 {
		t.Fatalf("register with a registry:read key: %d, want 403", got)
	}
	if got := register("pb_live_00000000_forged"); got != 401 {
		t.Fatalf("register with a forged key: %d, want 401", got)
	}
	id := writer["api_key"].(map[string]any)["id"].(string)
	req, _ := http.NewRequest("DELETE", hs.URL+"/api/api-keys/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke: %v %v", err, resp)
	}
	testenv.Eventually(t, 2*time.Second, func() bool { return register(writer["key"].(string)) == 401 },
		"a revoked key kept registering past the cache TTL")
}

// TestReadsNeedACredential performs issue 11's finding 16: anonymous
// clients listed every instance (internal host, port, metadata) and
// followed the live feed. Reads now need the registry token, an API key
// with registry:read or registry:write, or the access token of a
// super_admin or tenant_admin; the OpenAPI document stays public.
func TestReadsNeedACredential(t *testing.T) {
	t.Parallel()
	hs := coretest.Start(t, coretest.Options{})
	post := func(path, token string, body any) map[string]any { return coretest.Post(t, hs.URL+path, token, body) }
	login := func(user, password string) string { return coretest.Login(t, hs.URL, user, password) }
	admin := login("admin", coretest.AdminPassword)
	post("/api/users", admin, map[string]any{"username": "deputy", "password": "password-deputy", "role": "tenant_admin", "email": "deputy@example.com"})
	post("/api/users", admin, map[string]any{"username": "plain", "password": "password-plain", "role": "user", "email": "plain@example.com"})
	deputy, plain := login("deputy", "password-deputy"), login("plain", "password-plain")
	keyIDs := map[string]string{}
	key := func(name string, scopes ...string) string {
		k := post("/api/api-keys", admin, map[string]any{"name": name, "scopes": scopes})
		keyIDs[name] = k["api_key"].(map[string]any)["id"].(string)
		return k["key"].(string)
	}
	reader, writer, other := key("reader", "registry:read"), key("writer", "registry:write"), key("other", "orders:read")

	rp := start(t, backends[0].env(t), "PLUGBOARD_CORE_URL", hs.URL, "PLUGBOARD_REGISTRY_KEY_CACHE_TTL", "300ms")
	in := rp.register("orders", 9001, map[string]any{"metadata": map[string]any{"db": "10.0.0.5:5432"}})
	read := func(path string, header http.Header) response {
		t.Helper()
		req, _ := http.NewRequest("GET", rp.URL+path, nil)
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") == "text/event-stream" {
			return response{Status: resp.StatusCode, Header: resp.Header} // a live stream: do not wait for its end
		}
		b, _ := io.ReadAll(resp.Body)
		return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	forged := strings.Join(strings.Split(admin, ".")[:2], ".") + ".c2lnbmF0dXJl"
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"anonymous", http.Header{}, 401},
		{"wrong registry token", bearer("wrong-token-0123456789"), 401},
		{"forged access token", bearer(forged), 401},
		{"unknown API key", http.Header{"X-Api-Key": {"pb_live_00000000_forged"}}, 401},
		{"API key without a registry scope", http.Header{"X-Api-Key": {other}}, 403},
		{"plain user's access token", bearer(plain), 403},
		{"registry token", bearer(token), 200},
		{"registry:read key", http.Header{"X-Api-Key": {reader}}, 200},
		{"registry:read key as Authorization: ApiKey", http.Header{"Authorization": {"ApiKey " + reader}}, 200},
		{"registry:write key", http.Header{"X-Api-Key": {writer}}, 200},
		{"super_admin's access token", bearer(admin), 200},
		{"tenant_admin's access token", bearer(deputy), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/registry/services?include_inactive=true", "/api/registry/services/" + in.ID, "/api/registry/watch"} {
				r := read(path, tc.header)
				if r.Status != tc.status {
					t.Fatalf("GET %s: %d %s, want %d", path, r.Status, r.Body, tc.status)
				}
				if tc.status != 200 {
					if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("GET %s: %d without WWW-Authenticate", path, r.Status)
					}
					if p := r.Problem(t); strings.Contains(string(r.Body), "10.0.0.5") || p.Status != tc.status {
						t.Errorf("GET %s: %s", path, r.Body)
					}
				}
			}
		})
	}
	if r := read("/api/registry/openapi.json", http.Header{}); r.Status != 200 {
		t.Errorf("the OpenAPI document is no longer public: %d", r.Status)
	}
	// Reading rights do not write (a super_admin's access token may
	// deregister: TestServiceNameOwnership).
	for name, h := range map[string]http.Header{"registry:read key": {"X-Api-Key": {reader}}, "tenant_admin's access token": bearer(deputy)} {
		req, _ := http.NewRequest("POST", rp.URL+"/api/registry/deregister/"+in.ID, nil)
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 && resp.StatusCode != 403 {
			t.Errorf("deregister with a %s: %d", name, resp.StatusCode)
		}
	}

	// A stream opened with a key is cut after the cache TTL, so that a
	// revoked key stops following the feed; the registry token's is not.
	events, resp := rp.watch("", http.Header{"Authorization": {""}, "X-Api-Key": {reader}})
	if resp.StatusCode != 200 {
		t.Fatalf("watch with a registry:read key: %d", resp.StatusCode)
	}
	if ev := testenv.NextSSE(t, events, 5*time.Second); ev.Event != "snapshot" {
		t.Fatalf("first event %q", ev.Event)
	}
	if ev := testenv.NextSSE(t, events, 5*time.Second); ev.Event != "reconnect" {
		t.Fatalf("a key's stream was not asked to reconnect: %q", ev.Event)
	}
	tokenEvents, _ := rp.watch("", nil)
	testenv.NextSSE(t, tokenEvents, 5*time.Second)
	select {
	case ev := <-tokenEvents:
		t.Fatalf("the registry token's stream got %q", ev.Event)
	case <-time.After(time.Second):
	}
	req, _ := http.NewRequest("DELETE", hs.URL+"/api/api-keys/"+keyIDs["reader"], nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke: %v %v", err, resp)
	}
	testenv.Eventually(t, 3*time.Second, func() bool {
		_, resp := rp.watch("", http.Header{"Authorization": {""}, "X-Api-Key": {reader}})
		return resp.StatusCode == 401
	}, "a revoked key kept watching past the cache TTL")
}

// TestServiceNameOwnership performs issue 15's finding 8: any credential
// allowed to register could register under another service's name (and
// get a share of its traffic) or deregister another service's instances.
// A key whose scopes are registry:write:<name> now writes those names
// only (403 naming the service otherwise); the registry token and a
// registry:write key (a super admin's grant) write any name; a super
// admin's access token may deregister any instance, a tenant admin's none.
func TestServiceNameOwnership(t *testing.T) {
	t.Parallel()
	hs := coretest.Start(t, coretest.Options{})
	post := func(path, token string, body any) map[string]any { return coretest.Post(t, hs.URL+path, token, body) }
	admin := coretest.Login(t, hs.URL, "admin", coretest.AdminPassword)
	post("/api/users", admin, map[string]any{"username": "deputy", "password": "password-deputy", "role": "tenant_admin", "email": "deputy@example.com"})
	deputy := coretest.Login(t, hs.URL, "deputy", "password-deputy")
	key := func(name string, scopes ...string) string {
		return post("/api/api-keys", admin, map[string]any{"name": name, "scopes": scopes})["key"].(string)
	}
	notesKey, wikiKey, anyKey := key("notes", "registry:write:notes"), key("wiki", "registry:write:notes", "registry:write:wiki"), key("any", "registry:write")

	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t), "PLUGBOARD_CORE_URL", hs.URL)
		withKey := func(k string) []string { return []string{"X-API-Key", k} }
		bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
		call := func(method, path string, body any, cred []string) response {
			t.Helper()
			return testenv.Do(t, method, rp.URL+path, body, cred...)
		}
		register := func(name string, port int, cred []string) response {
			t.Helper()
			return call("POST", "/api/registry/register", serviceConfig(name, port), cred)
		}
		heartbeat := func(id string, cred []string) response {
			t.Helper()
			return call("POST", "/api/registry/heartbeat", map[string]any{"service_id": id}, cred)
		}
		deregister := func(id string, cred []string) response {
			t.Helper()
			return call("POST", "/api/registry/deregister/"+id, nil, cred)
		}
		// refused checks a 403 problem that names the service.
		refused := func(what string, r response, service string) {
			t.Helper()
			if r.Status != http.StatusForbidden {
				t.Fatalf("%s: %d %s, want 403", what, r.Status, r.Body)
			}
			if p := r.Problem(t); !strings.Contains(p.Detail, `"`+service+`"`) {
				t.Errorf("%s: the problem does not name %q: %s", what, service, p.Detail)
			}
			if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("%s: WWW-Authenticate %q", what, r.Header.Get("WWW-Authenticate"))
			}
		}
		active := func(id string) bool {
			t.Helper()
			var in instance
			call("GET", "/api/registry/services/"+id, nil, bearer(token)).Decode(t, &in)
			return in.IsActive
		}
		instanceOf := func(what string, r response) instance {
			t.Helper()
			if r.Status != 201 && r.Status != 200 {
				t.Fatalf("%s: %d %s", what, r.Status, r.Body)
			}
			var in instance
			r.Decode(t, &in)
			return in
		}

		billing := rp.register("billing", 9002, nil) // with the registry token

		// A key bound to notes cannot take billing's name nor touch its instances.
		refused("register billing with a notes key", register("billing", 9003, withKey(notesKey)), "billing")
		refused("re-register billing's instance with a notes key", register("billing", 9002, withKey(notesKey)), "billing")
		refused("heartbeat billing with a notes key", heartbeat(billing.ID, withKey(notesKey)), "billing")
		refused("deregister billing with a notes key", deregister(billing.ID, withKey(notesKey)), "billing")
		if !active(billing.ID) {
			t.Fatal("billing's instance was deregistered by a notes key")
		}
		var list []instance
		call("GET", "/api/registry/services?name=billing", nil, bearer(token)).Decode(t, &list)
		if len(list) != 1 || list[0].ID != billing.ID {
			t.Fatalf("billing's instances after the attack: %+v", list)
		}
		// A bound key does not read the registry either.
		if r := call("GET", "/api/registry/services", nil, withKey(notesKey)); r.Status != 403 {
			t.Errorf("list with a notes key: %d", r.Status)
		}

		// It may do everything to notes.
		notes := instanceOf("register notes with a notes key", register("notes", 9001, withKey(notesKey)))
		if r := heartbeat(notes.ID, withKey(notesKey)); r.Status != 200 {
			t.Fatalf("heartbeat notes with a notes key: %d %s", r.Status, r.Body)
		}
		if r := deregister(notes.ID, withKey(notesKey)); r.Status != 200 || active(notes.ID) {
			t.Fatalf("deregister notes with a notes key: %d %s", r.Status, r.Body)
		}
		// A key bound to several names writes each of them, and only them.
		wiki := instanceOf("register wiki with a notes+wiki key", register("wiki", 9004, withKey(wikiKey)))
		refused("register billing with a notes+wiki key", register("billing", 9005, withKey(wikiKey)), "billing")

		// The registry token and a registry:write key write any name.
		for name, cred := range map[string][]string{"registry token": bearer(token), "registry:write key": withKey(anyKey)} {
			in := instanceOf("register billing with the "+name, register("billing", 9006, cred))
			if r := heartbeat(wiki.ID, cred); r.Status != 200 {
				t.Fatalf("heartbeat wiki with the %s: %d %s", name, r.Status, r.Body)
			}
			if r := deregister(in.ID, cred); r.Status != 200 {
				t.Fatalf("deregister billing with the %s: %d %s", name, r.Status, r.Body)
			}
		}

		// Access tokens: a super_admin's deregisters any instance (the
		// console's button), a tenant_admin's none; neither registers.
		if r := deregister(billing.ID, bearer(deputy)); r.Status != 403 || !active(billing.ID) {
			t.Fatalf("deregister with a tenant_admin's access token: %d %s", r.Status, r.Body)
		}
		for what, r := range map[string]response{
			"register with a super_admin's access token":  register("billing", 9007, bearer(admin)),
			"heartbeat with a super_admin's access token": heartbeat(billing.ID, bearer(admin)),
		} {
			if r.Status != 401 {
				t.Errorf("%s: %d %s, want 401", what, r.Status, r.Body)
			}
		}
		if r := deregister(billing.ID, bearer(admin)); r.Status != 200 || active(billing.ID) {
			t.Fatalf("deregister with a super_admin's access token: %d %s", r.Status, r.Body)
		}
	})
}
