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
	// Reading rights do not write.
	for name, h := range map[string]http.Header{"registry:read key": {"X-Api-Key": {reader}}, "super_admin's access token": bearer(admin)} {
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
