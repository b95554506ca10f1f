package sdk_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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
		Endpoints: []sdk.Endpoint{{Path: "/hello", Method: "GET", IsPublic: true}}, UndeclaredPaths: sdk.UndeclaredDeny}
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
	secret := "sdk-signing-secret"
	h := sdk.Middleware(secret, sdk.RequireRole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := sdk.IdentityFrom(r.Context())
		io.WriteString(w, id.UserID+"@"+id.TenantID)
	}), "tenant_admin"))
	sign := func(r *http.Request, user, roles string, ts time.Time, key string) {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		r.Header.Set(sdk.HeaderUserID, user)
		r.Header.Set(sdk.HeaderTenantID, "t1")
		r.Header.Set(sdk.HeaderRoles, roles)
		r.Header.Set(sdk.HeaderScopes, "")
		r.Header.Set(sdk.HeaderTimestamp, stamp)
		// The gateway's own signing function, so that both sides agree.
		r.Header.Set(sdk.HeaderSignature, jwtauth.Sign([]byte(key), r.Method, r.URL.RequestURI(), user, "t1", roles, "", stamp))
	}
	for _, tc := range []struct {
		name string
		prep func(r *http.Request)
		want int
	}{
		{"signed admin", func(r *http.Request) { sign(r, "u1", "tenant_admin", time.Now(), secret) }, 200},
		{"super admin passes roles", func(r *http.Request) { sign(r, "u1", "super_admin", time.Now(), secret) }, 200},
		{"signed user lacks the role", func(r *http.Request) { sign(r, "u1", "user", time.Now(), secret) }, 403},
		{"no identity", func(r *http.Request) {}, 401},
		{"wrong secret", func(r *http.Request) { sign(r, "u1", "tenant_admin", time.Now(), "other") }, 401},
		{"stale", func(r *http.Request) { sign(r, "u1", "tenant_admin", time.Now().Add(-time.Hour), secret) }, 401},
		{"forged user", func(r *http.Request) {
			sign(r, "u1", "tenant_admin", time.Now(), secret)
			r.Header.Set(sdk.HeaderUserID, "u2")
		}, 401},
		{"unsigned identity", func(r *http.Request) { r.Header.Set(sdk.HeaderUserID, "u1") }, 401},
		{"query changed after signing", func(r *http.Request) {
			sign(r, "u1", "tenant_admin", time.Now(), secret)
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
