package registryd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry/registryd"
	"github.com/plugboard/plugboard/registry/registrytest"
)

const token = "test-token-0123456789"

// backend is one storage combination the registry runs on.
type backend struct {
	name string
	// env returns the storage settings of a fresh registry; replicas of one
	// test share what it returns.
	env func(t testing.TB) map[string]string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) map[string]string {
		return map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir()}
	}},
	{"postgres+redis", func(t testing.TB) map[string]string {
		redisURL, prefix := testenv.RedisURL(t)
		return map[string]string{
			"PLUGBOARD_DATA_DIR":     t.TempDir(),
			"PLUGBOARD_DATABASE_URL": testenv.PostgresURL(t),
			"PLUGBOARD_REDIS_URL":    redisURL,
			"PLUGBOARD_REDIS_PREFIX": prefix,
		}
	}},
}

// forEachBackend runs fn once per backend, as a subtest named after it.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// replica is one in-process registry server.
type replica struct {
	t   testing.TB
	srv *registryd.Server
	URL string
}

// start runs a registry on env plus extra settings.
func start(t testing.TB, env map[string]string, extra ...string) *replica {
	t.Helper()
	vars := map[string]string{"PLUGBOARD_REGISTRY_TOKEN": token}
	for k, v := range env {
		vars[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	r := registrytest.Start(t, registrytest.Options{Token: token, Env: vars})
	return &replica{t: t, srv: r.Server, URL: r.URL}
}

// response is a decoded HTTP answer.
// response is an answer read in full (testenv.Response).
type response = testenv.Response

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON). auth is the bearer token ("" for none).
func (rp *replica) do(method, path string, body any, auth string) response {
	rp.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, rp.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rp.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return testenv.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// instance is the registry's answer for one instance.
type instance struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Host          string          `json:"host"`
	Port          int             `json:"port"`
	BasePath      string          `json:"base_path"`
	Version       string          `json:"version"`
	IsActive      bool            `json:"is_active"`
	Health        string          `json:"health"`
	LastHeartbeat time.Time       `json:"last_heartbeat"`
	Metadata      json.RawMessage `json:"metadata"`
	Tags          []string        `json:"tags"`
	Undeclared    string          `json:"undeclared_paths"`
	Endpoints     []struct {
		Path          string   `json:"path"`
		Method        string   `json:"method"`
		RequiredRoles []string `json:"required_roles"`
		IsPublic      bool     `json:"is_public"`
	} `json:"endpoints"`
}

// register registers a valid instance of name on port and returns it.
func (rp *replica) register(name string, port int, extra map[string]any) instance {
	rp.t.Helper()
	body := serviceConfig(name, port)
	for k, v := range extra {
		body[k] = v
	}
	r := rp.do("POST", "/api/registry/register", body, token)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		rp.t.Fatalf("register %s: %d %s", name, r.Status, r.Body)
	}
	var in instance
	r.Decode(rp.t, &in)
	return in
}

// serviceConfig is a seed-style SERVICE_CONFIG.
func serviceConfig(name string, port int) map[string]any {
	return map[string]any{
		"name": name, "display_name": "The " + name + " service", "version": "1.0.0",
		"host": "127.0.0.1", "port": port, "base_path": "/v1",
		"endpoints": []map[string]any{
			{"path": "/items", "method": "GET", "description": "list", "is_public": true},
			{"path": "/items/{id}", "method": "DELETE", "required_roles": []string{"tenant_admin"}, "rate_limit": map[string]any{"requests": 10, "per": "1m"}},
		},
		"metadata": map[string]any{"team": "a"},
		"tags":     []string{"blue"},
	}
}

// watch opens the change feed (query is appended to the URL) with the
// registry token, unless header says otherwise, and returns its events on a channel that closes when the stream ends.
func (rp *replica) watch(query string, header http.Header) (<-chan testenv.SSEEvent, *http.Response) {
	rp.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rp.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", rp.URL+"/api/registry/watch"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token) // header may replace it, or remove it with ""
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Del("Authorization")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rp.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		closed := make(chan testenv.SSEEvent)
		close(closed)
		return closed, resp
	}
	return testenv.SSEEvents(resp, 1000), resp
}
