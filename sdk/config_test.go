package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core/coretest"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/sdk"
)

// configCore is a real core (SQLite) with a tenant, a tenant_admin's API
// key and a super_admin token to write entries with.
type configCore struct {
	t      *testing.T
	url    string
	super  string // super_admin access token
	tenant string // the key's tenant ID
	key    string // a tenant_admin's API key (pb_live_…)
	hs     *httptest.Server
}

func startConfigCore(t *testing.T) *configCore {
	t.Helper()
	hs := coretest.Start(t, coretest.Options{})

	c := &configCore{t: t, url: hs.URL, hs: hs}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.call("POST", "/api/auth/login", "", map[string]string{"username": "admin", "password": coretest.AdminPassword}, 200, &tok)
	c.super = tok.AccessToken
	var created struct {
		ID string `json:"id"`
	}
	c.call("POST", "/api/tenants", c.super, map[string]any{"name": "acme"}, 201, &created)
	c.tenant = created.ID
	c.call("POST", "/api/users", c.super, map[string]any{"tenant_id": c.tenant, "username": "alice",
		"password": "password-alice", "role": "tenant_admin", "email": "alice@example.com"}, 201, nil)
	c.call("POST", "/api/auth/login", "", map[string]string{"tenant": "acme", "username": "alice", "password": "password-alice"}, 200, &tok)
	var key struct {
		Key string `json:"key"`
	}
	c.call("POST", "/api/api-keys", tok.AccessToken, map[string]any{"name": "plugin"}, 201, &key)
	c.key = key.Key
	return c
}

// call sends body as JSON with token as Bearer, checks the status (want, or
// any 2xx when want is 0) and
// decodes the answer into out (when not nil).
func (c *configCore) call(method, path, token string, body any, want int, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// No keep-alive: the watch test drops every connection of the server.
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	r := testenv.Read(c.t, resp)
	if want == 0 && r.Status/100 != 2 || want != 0 && r.Status != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if out != nil {
		r.Decode(c.t, out)
	}
}

// put writes an entry as the super_admin; scope "global" or the tenant's.
func (c *configCore) put(scope, service, key string, value any) {
	c.t.Helper()
	q := "?scope=global"
	if scope != "global" {
		q = "?scope=tenant&tenant_id=" + c.tenant
	}
	c.call("PUT", "/api/config/"+service+"/"+key+q, c.super, map[string]any{"value": value}, 0, nil)
}

func TestConfigClientGet(t *testing.T) {
	c := startConfigCore(t)
	c.put("tenant", "billing", "limits", map[string]int{"max": 3})
	c.put("global", "billing", "currency", "EUR")
	cc := sdk.NewConfigClient(c.url+"/", c.key) // a trailing slash is fine
	ctx := context.Background()

	var limits struct{ Max int }
	e, err := cc.Get(ctx, "", "billing", "limits", &limits) // "": the key's tenant
	if err != nil {
		t.Fatal(err)
	}
	if limits.Max != 3 || e.Scope != "tenant" || e.Service != "billing" || e.Key != "limits" || e.Version != 1 {
		t.Fatalf("tenant entry %+v, value %+v", e, limits)
	}
	var currency string
	if e, err = cc.Get(ctx, "global", "billing", "currency", &currency); err != nil || currency != "EUR" || e.Scope != "global" {
		t.Fatalf("global entry %+v %q: %v", e, currency, err)
	}
	if e, err = cc.Get(ctx, "tenant", "billing", "limits", nil); err != nil || string(e.Value) != `{"max":3}` {
		t.Fatalf("no decode: %+v %v", e, err)
	}

	// Errors carry the status: absent, wrong credential, value of another type.
	if _, err := cc.Get(ctx, "", "billing", "absent", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("absent entry: %v", err)
	}
	if _, err := sdk.NewConfigClient(c.url, "pb_live_nope_nope").Get(ctx, "", "billing", "limits", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad key: %v", err)
	}
	var n int
	if e, err := cc.Get(ctx, "", "billing", "limits", &n); err == nil || e == nil || e.Version != 1 {
		t.Fatalf("value of another type: %+v %v", e, err)
	}
	if _, err := sdk.NewConfigClient("http://127.0.0.1:1", c.key).Get(ctx, "", "billing", "limits", nil); err == nil {
		t.Fatal("unreachable core: no error")
	}
}

func TestConfigClientWatch(t *testing.T) {
	c := startConfigCore(t)
	c.put("tenant", "billing", "limits", 1)
	c.put("tenant", "other", "limits", 1)
	cc := sdk.NewConfigClient(c.url, c.key)

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan sdk.ConfigEntry, 16)
	done := make(chan error, 1)
	go func() { done <- cc.Watch(ctx, "", "billing", func(e sdk.ConfigEntry) { got <- e }) }()
	next := func(what string) sdk.ConfigEntry {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s within 5s", what)
			return sdk.ConfigEntry{}
		}
	}

	// The current entries first, then every change of the watched service.
	if e := next("snapshot entry"); e.Key != "limits" || e.Version != 1 || string(e.Value) != "1" || e.Deleted {
		t.Fatalf("snapshot: %+v", e)
	}
	c.put("tenant", "other", "limits", 2) // another service: not reported
	c.put("tenant", "billing", "limits", 2)
	if e := next("change"); e.Service != "billing" || e.Version != 2 || string(e.Value) != "2" || e.Deleted {
		t.Fatalf("change: %+v", e)
	}
	c.call("DELETE", "/api/config/billing/limits?scope=tenant&tenant_id="+c.tenant, c.super, nil, 204, nil)
	if e := next("delete"); e.Key != "limits" || e.Version != 3 || !e.Deleted {
		t.Fatalf("delete: %+v", e)
	}
	select {
	case e := <-got:
		t.Fatalf("unexpected %+v", e)
	case <-time.After(200 * time.Millisecond):
	}

	// Another key of the same service.
	c.put("tenant", "billing", "flag", true)
	if e := next("flag"); e.Key != "flag" || e.Version != 1 || e.Deleted {
		t.Fatalf("flag: %+v", e)
	}

	// A dropped stream reconnects by itself; what was written or deleted
	// meanwhile arrives with the new snapshot, and nothing seen is repeated.
	c.hs.CloseClientConnections()
	c.put("tenant", "billing", "limits", 4)
	c.call("DELETE", "/api/config/billing/flag?scope=tenant&tenant_id="+c.tenant, c.super, nil, 204, nil)
	if e := next("entry after reconnect"); e.Key != "limits" || e.Version != 4 || string(e.Value) != "4" {
		t.Fatalf("after reconnect: %+v", e)
	}
	if e := next("delete while away"); e.Key != "flag" || !e.Deleted || e.Version != 2 {
		t.Fatalf("delete while away: %+v", e)
	}
	select {
	case e := <-got:
		t.Fatalf("unexpected after reconnect %+v", e)
	case <-time.After(200 * time.Millisecond):
	}

	// Watch returns nil once ctx ends.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("PLUGBOARD_SERVICE_NAME", "orders")
	t.Setenv("PLUGBOARD_SERVICE_TAGS", "a,b")
	t.Setenv("PLUGBOARD_DRAIN_TIMEOUT", "2s")
	cfg, err := sdk.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "orders" || len(cfg.Tags) != 2 || cfg.DrainTimeout != 2*time.Second || cfg.Host != "127.0.0.1" ||
		cfg.HeartbeatInterval != 30*time.Second || cfg.RegistryURL != "http://127.0.0.1:8081" {
		t.Fatalf("%+v", cfg)
	}
	// A bad value names the variable, not the Go field.
	t.Setenv("PLUGBOARD_SERVICE_PORT", "eighty")
	if _, err := sdk.LoadConfig(); err == nil || !strings.Contains(err.Error(), "PLUGBOARD_SERVICE_PORT") {
		t.Fatalf("bad port: %v", err)
	}
}
