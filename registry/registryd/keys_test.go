package registryd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core/cored"
	"github.com/plugboard/plugboard/core/platform/envconfig"
)

// TestAPIKeysRegister registers with core API keys instead of the registry
// token: a key with registry:write may, one without may not, and a revoked
// key stops working within the cache TTL.
func TestAPIKeysRegister(t *testing.T) {
	cfg, err := envconfig.Parse[cored.Config](map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir(),
		"PLUGBOARD_ADMIN_PASSWORD": "admin-password-1", "PLUGBOARD_CORE_BCRYPT_COST": "4"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	core, err := cored.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	hs := httptest.NewServer(core.Handler())
	defer hs.Close()
	post := func(path, token string, body any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", hs.URL+path, bytes.NewReader(b))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	admin := post("/api/auth/login", "", map[string]string{"username": "admin", "password": "admin-password-1"})["access_token"].(string)
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
	eventually(t, 2*time.Second, func() bool { return register(writer["key"].(string)) == 401 },
		"a revoked key kept registering past the cache TTL")
}
