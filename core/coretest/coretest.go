// Package coretest runs a real core service (cored, in process, on an
// httptest server) for the tests of the components that talk to it: the
// registry's API-key checks, the gateway's jwt_auth and the SDK's
// configuration client.
package coretest

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"testing"

	"github.com/plugboard/plugboard/core/cored"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/testenv"
)

// AdminPassword is the password of the super admin "admin" in the default
// tenant.
const AdminPassword = "admin-password-1"

// Options configure Start. The zero value runs an embedded (SQLite,
// in-memory ephemeral state) core in a temporary data directory.
type Options struct {
	// Env holds further PLUGBOARD_* settings; they win over the defaults
	// (PLUGBOARD_DATA_DIR, PLUGBOARD_ADMIN_PASSWORD [AdminPassword],
	// PLUGBOARD_CORE_BCRYPT_COST 4).
	Env map[string]string
	// Stdout receives what core prints there (a generated admin password).
	Stdout io.Writer
}

// Start runs a core with cheap password hashes and returns its server; it
// stops when the test ends.
func Start(t testing.TB, opt Options) *httptest.Server {
	t.Helper()
	vars := map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir(),
		"PLUGBOARD_ADMIN_PASSWORD": AdminPassword, "PLUGBOARD_CORE_BCRYPT_COST": "4"}
	maps.Copy(vars, opt.Env)
	cfg, err := envconfig.Parse[cored.Config](vars)
	if err != nil {
		t.Fatal(err)
	}
	stdout := opt.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := cored.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), stdout)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	// Watch streams end with their connections, so that Close need not wait.
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close(); cancel(); srv.Close() })
	return hs
}

// Post sends body as JSON to url (with token as Bearer when not empty) and
// returns the decoded answer, failing t unless it is a 2xx.
func Post(t testing.TB, url, token string, body any) map[string]any {
	t.Helper()
	var header []string
	if token != "" {
		header = []string{"Authorization", "Bearer " + token}
	}
	r := testenv.Do(t, "POST", url, body, header...)
	if r.Status/100 != 2 {
		t.Fatalf("POST %s: %d %s", url, r.Status, r.Body)
	}
	var out map[string]any
	r.Decode(t, &out)
	return out
}

// Login returns an access token of user in the default tenant.
func Login(t testing.TB, baseURL, user, password string) string {
	t.Helper()
	tok, _ := Post(t, baseURL+"/api/auth/login", "", map[string]string{"username": user, "password": password})["access_token"].(string)
	return tok
}
