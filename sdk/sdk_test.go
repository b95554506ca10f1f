package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/caddymodules/jwtauth"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/client"
	"github.com/plugboard/plugboard/registry/registrytest"
	"github.com/plugboard/plugboard/sdk"
)

const token = "sdk-test-registry-token"

func startRegistry(t *testing.T) (string, *client.Client) {
	t.Helper()
	return startRegistryAt(t, "")
}

// startRegistryOn runs a registry on addr and returns a client of it.
func startRegistryOn(t *testing.T, addr string) *client.Client {
	t.Helper()
	_, c := startRegistryAt(t, addr)
	return c
}

// startRegistryAt runs a registry on addr ("" for any free port).
func startRegistryAt(t *testing.T, addr string) (string, *client.Client) {
	t.Helper()
	r := registrytest.Start(t, registrytest.Options{Token: token, Addr: addr})
	return r.URL, r.Client
}

func active(t *testing.T, c *client.Client, name string) []*registry.Instance {
	t.Helper()
	list, _, err := c.List(context.Background(), registry.Filter{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestRunRegistersHeartbeatsAndDeregisters(t *testing.T) {
	url, reg := startRegistry(t)
	cfg := sdk.Config{Name: "hello", Version: "1.0.0", RegistryURL: url, RegistryToken: token,
		HeartbeatInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Endpoints: []sdk.Endpoint{{Path: "/hello", Method: "GET", IsPublic: true}}, UndeclaredPaths: sdk.UndeclaredDeny,
		Resilience: &sdk.Resilience{Timeout: "2s", RetryOn: []string{"503"}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sdk.Run(ctx, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	}()
	var in *registry.Instance
	testenv.Eventually(t, 5*time.Second, func() bool {
		list := active(t, reg, "hello")
		if len(list) == 1 {
			in = list[0]
		}
		return in != nil
	}, "the service never registered")
	if in.UndeclaredPaths != registry.UndeclaredDeny {
		t.Fatalf("undeclared_paths = %q, want deny", in.UndeclaredPaths)
	}
	if r := in.Resilience; r == nil || r.Timeout != "2s" || len(r.RetryOn) != 1 || r.Retries != nil {
		t.Fatalf("resilience = %+v, want the configured one", r)
	}
	resp, err := http.Get("http://" + in.Host + ":" + strconv.Itoa(in.Port) + "/hello")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the registered address does not serve: %v", err)
	}
	resp.Body.Close()

	// The registry forgets the instance: the next heartbeat's 404 makes the
	// SDK register again.
	if err := reg.Deregister(context.Background(), in.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(active(t, reg, "hello")) == 1 }, "the SDK did not register again after a 404")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := len(active(t, reg, "hello")); n != 0 {
		t.Fatalf("%d instances still active after shutdown", n)
	}
}

// TestRunWaitsForTheRegistry starts a service before its registry: Run
// keeps trying, and registers once the registry answers.
func TestRunWaitsForTheRegistry(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing answers there yet
	cfg := sdk.Config{Name: "late", RegistryURL: "http://" + addr, RegistryToken: token,
		HeartbeatInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sdk.Run(ctx, cfg, http.NotFoundHandler()) }()
	time.Sleep(300 * time.Millisecond) // Run fails to reach the registry a few times

	reg := startRegistryOn(t, addr)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(active(t, reg, "late")) == 1 },
		"the service never registered once the registry came up")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMiddlewareVerifiesTheGatewaySignature(t *testing.T) {
	const master = "sdk-signing-secret"
	key := jwtauth.ServiceKey([]byte(master), "orders")
	h := sdk.Middleware(sdk.NewVerifier("orders", key), sdk.RequireRole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := sdk.IdentityFrom(r.Context())
		io.WriteString(w, id.UserID+"@"+id.TenantID)
	}), "tenant_admin"))
	signFor := func(r *http.Request, service, user, roles string, ts time.Time, key string) {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		r.Header.Set(sdk.HeaderUserID, user)
		r.Header.Set(sdk.HeaderTenantID, "t1")
		r.Header.Set(sdk.HeaderRoles, roles)
		r.Header.Set(sdk.HeaderScopes, "")
		r.Header.Set(sdk.HeaderTimestamp, stamp)
		// The gateway's own signing function, so that both sides agree.
		r.Header.Set(sdk.HeaderSignature, jwtauth.Sign([]byte(key), service, r.Method, r.URL.RequestURI(), user, "t1", roles, "", stamp))
	}
	sign := func(r *http.Request, user, roles string, ts time.Time, key string) {
		signFor(r, "orders", user, roles, ts, key)
	}
	billingKey := jwtauth.ServiceKey([]byte(master), "billing")
	for _, tc := range []struct {
		name string
		prep func(r *http.Request)
		want int
	}{
		{"signed admin", func(r *http.Request) { sign(r, "u1", "tenant_admin", time.Now(), key) }, 200},
		{"super admin passes roles", func(r *http.Request) { sign(r, "u1", "super_admin", time.Now(), key) }, 200},
		{"signed user lacks the role", func(r *http.Request) { sign(r, "u1", "user", time.Now(), key) }, 403},
		{"no identity", func(r *http.Request) {}, 401},
		{"wrong key", func(r *http.Request) { sign(r, "u1", "tenant_admin", time.Now(), "other") }, 401},
		// A request signed for billing, with billing's key, is refused by
		// orders: a compromised billing plugin cannot mint identities
		// for orders.
		{"signed for another service", func(r *http.Request) { signFor(r, "billing", "u1", "super_admin", time.Now(), billingKey) }, 401},
		{"another service's key", func(r *http.Request) { sign(r, "u1", "super_admin", time.Now(), billingKey) }, 401},
		{"orders' key, signed for billing", func(r *http.Request) { signFor(r, "billing", "u1", "super_admin", time.Now(), key) }, 401},
		{"the master secret", func(r *http.Request) { sign(r, "u1", "super_admin", time.Now(), master) }, 401},
		{"stale", func(r *http.Request) { sign(r, "u1", "tenant_admin", time.Now().Add(-time.Hour), key) }, 401},
		{"forged user", func(r *http.Request) {
			sign(r, "u1", "tenant_admin", time.Now(), key)
			r.Header.Set(sdk.HeaderUserID, "u2")
		}, 401},
		{"unsigned identity", func(r *http.Request) { r.Header.Set(sdk.HeaderUserID, "u1") }, 401},
		{"query changed after signing", func(r *http.Request) {
			sign(r, "u1", "tenant_admin", time.Now(), key)
			r.URL.RawQuery = "dry_run=false"
		}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/admin?dry_run=true", nil)
			tc.prep(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want >= 400 && w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("content type %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

// TestConfigVerifier: the service's own key and, during a rotation, the
// previous one verify; the legacy master secret still does, for the
// service's own name only, with a warning.
func TestConfigVerifier(t *testing.T) {
	const oldMaster, newMaster = "old-master-secret-0123456789", "new-master-secret-0123456789"
	signed := func(master, service string) *http.Request {
		r := httptest.NewRequest("GET", "/v1/items", nil)
		stamp := strconv.FormatInt(time.Now().Unix(), 10)
		r.Header.Set(sdk.HeaderUserID, "u1")
		r.Header.Set(sdk.HeaderTimestamp, stamp)
		r.Header.Set(sdk.HeaderSignature, jwtauth.Sign([]byte(jwtauth.ServiceKey([]byte(master), service)), service, "GET", "/v1/items", "u1", "", "", "", stamp))
		return r
	}
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	rotating := sdk.Config{Name: "orders", ServiceKey: sdk.ServiceKey([]byte(newMaster), "orders"),
		ServiceKeyPrevious: sdk.ServiceKey([]byte(oldMaster), "orders"), Logger: logger}.Verifier()
	for _, master := range []string{oldMaster, newMaster} {
		if sdk.Verify(signed(master, "orders"), rotating, time.Now()) == nil {
			t.Errorf("signed under %s: refused during the rotation", master)
		}
	}
	if sdk.Verify(signed(newMaster, "billing"), rotating, time.Now()) != nil {
		t.Error("a request signed for billing passed orders")
	}
	current := sdk.Config{Name: "orders", ServiceKey: sdk.ServiceKey([]byte(newMaster), "orders")}.Verifier()
	if sdk.Verify(signed(oldMaster, "orders"), current, time.Now()) != nil {
		t.Error("the old key still verifies once the previous key is gone")
	}
	if logs.Len() != 0 {
		t.Errorf("service keys logged: %s", logs.String())
	}
	legacy := sdk.Config{Name: "orders", SigningSecret: oldMaster, Logger: logger}.Verifier()
	if sdk.Verify(signed(oldMaster, "orders"), legacy, time.Now()) == nil {
		t.Error("the legacy master secret no longer verifies")
	}
	if sdk.Verify(signed(oldMaster, "billing"), legacy, time.Now()) != nil {
		t.Error("legacy mode accepted a request signed for billing")
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "PLUGBOARD_SERVICE_KEY") {
		t.Errorf("legacy mode did not warn: %s", logs.String())
	}
	if (sdk.Config{Name: "orders"}).Verifier().Keys != nil {
		t.Error("no key configured, yet the verifier has keys")
	}
}

// TestSignatureVectors: the vectors Python's SDK checks too.
func TestSignatureVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/signatures.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Name, Master, Service, ServiceKey                               string
		Method, Path, User, Tenant, Roles, Scopes, Timestamp, Signature string
	}
	if err := json.Unmarshal(raw, &vs); err != nil || len(vs) == 0 {
		t.Fatalf("signatures.json: %v (%d vectors)", err, len(vs))
	}
	for _, v := range vs {
		if got := sdk.ServiceKey([]byte(v.Master), v.Service); got != v.ServiceKey {
			t.Errorf("%s: ServiceKey = %s, want %s", v.Name, got, v.ServiceKey)
		}
		if got := sdk.Sign([]byte(v.ServiceKey), v.Service, v.Method, v.Path, v.User, v.Tenant, v.Roles, v.Scopes, v.Timestamp); got != v.Signature {
			t.Errorf("%s: Sign = %s, want %s", v.Name, got, v.Signature)
		}
	}
}

// TestClientReadsWithItsCredential: the registry answers reads and the
// change feed only to a credential, which the client sends on them too.
func TestClientReadsWithItsCredential(t *testing.T) {
	url, reg := startRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := reg.Watch(ctx, -1, func(m client.Message) error {
		if m.Kind != "snapshot" {
			t.Errorf("first message %q, want snapshot", m.Kind)
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Watch with the token: %v", err)
	}
	anon := client.New(url, "", nil)
	var e *client.Error
	if _, _, err := anon.List(ctx, registry.Filter{}); !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous List: %v, want 401", err)
	}
	if err := anon.Watch(ctx, -1, func(client.Message) error { return nil }); !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous Watch: %v, want 401", err)
	}
}

var errStop = errors.New("stop")
