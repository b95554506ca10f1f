package dynamicupstreams

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestRegistryToken: the gateway's registry credential comes from
// PLUGBOARD_REGISTRY_TOKEN, else from the registry's token file in the
// data directory, else there is none (a registry that does not ask).
func TestRegistryToken(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PLUGBOARD_DATA_DIR", dir)
	t.Setenv("PLUGBOARD_REGISTRY_TOKEN", "")
	if tok, _, err := registryToken(); tok != "" || err != nil {
		t.Fatalf("no token anywhere: %q, %v", tok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "registry.token"), []byte("from-the-file-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, src, err := registryToken(); tok != "from-the-file-0123" || err != nil || src != filepath.Join(dir, "registry.token") {
		t.Fatalf("file: %q from %q, %v", tok, src, err)
	}
	t.Setenv("PLUGBOARD_REGISTRY_TOKEN", "from-the-env-0123")
	if tok, src, err := registryToken(); tok != "from-the-env-0123" || err != nil || src != "PLUGBOARD_REGISTRY_TOKEN" {
		t.Fatalf("env: %q from %q, %v", tok, src, err)
	}
}

// TestBearerLeavesTheRequestAlone: the token goes on the wire, not into the
// caller's request.
func TestBearerLeavesTheRequestAlone(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") }))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := (&http.Client{Transport: bearer{token: func() string { return "t0k" }, next: http.DefaultTransport}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "Bearer t0k" || req.Header.Get("Authorization") != "" {
		t.Fatalf("server saw %q; the caller's request has %q", got, req.Header.Get("Authorization"))
	}
}
