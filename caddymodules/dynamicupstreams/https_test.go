package dynamicupstreams_test

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestLocalHTTPSAndHTTP2 serves the shipped Caddyfile on
// https://localhost:<port>, the local HTTPS variant: Caddy issues the
// certificate from its internal CA (tls internal) and speaks HTTP/2.
func TestLocalHTTPSAndHTTP2(t *testing.T) {
	s := startStack(t)
	b := newBackend(t, "h2-1")
	s.register("h2", b, "/v2")
	caddy.Stop()

	port := strings.Split(testenv.FreeAddr(t), ":")[1]
	t.Setenv("PLUGBOARD_GATEWAY_SITE", "https://localhost:"+port)
	body, _ := os.ReadFile("../../Caddyfile")
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	json.Unmarshal(gatewaytest.QuietLogs(t, cfgJSON), &cfg)
	// No HTTP→HTTPS redirect server on port 80 in tests.
	for _, srv := range cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any) {
		srv.(map[string]any)["automatic_https"] = map[string]any{"disable_redirects": true}
	}
	cfgJSON, _ = json.Marshal(cfg)
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // Caddy's internal CA is not in the system pool
		ForceAttemptHTTP2: true,
	}}
	var resp *http.Response
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err = client.Get("https://localhost:" + port + "/api/h2/x")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200
	}, "the HTTPS gateway never routed")
	if resp.Proto != "HTTP/2.0" || resp.TLS == nil {
		t.Fatalf("proto %s, TLS %v", resp.Proto, resp.TLS != nil)
	}
	if issuer := resp.TLS.PeerCertificates[len(resp.TLS.PeerCertificates)-1].Issuer.CommonName; !strings.Contains(issuer, "Caddy Local Authority") {
		t.Fatalf("certificate issued by %q, want Caddy's internal CA", issuer)
	}
}

// TestH2C checks HTTP/2 without TLS (h2c) on the default plain site.
func TestH2C(t *testing.T) {
	s := startStack(t)
	b := newBackend(t, "h2c-1")
	s.register("h2c", b, "")
	var tr http.Transport
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &tr, Timeout: 5 * time.Second}
	var resp *http.Response
	var err error
	testenv.Eventually(t, 2*time.Second, func() bool {
		resp, err = client.Get(s.gateway + "/api/h2c/x")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "h2c never routed")
	if resp.Proto != "HTTP/2.0" {
		t.Fatalf("proto %s", resp.Proto)
	}
}

// TestCaddyfileAdapts compares the shipped Caddyfile's JSON, with every
// variable at its default, to testdata/Caddyfile.json, so that a change to
// the routing is a visible diff. Rewrite with -update.
func TestCaddyfileAdapts(t *testing.T) {
	for _, v := range []string{"PLUGBOARD_GATEWAY_SITE", "PLUGBOARD_GATEWAY_ADMIN", "PLUGBOARD_REGISTRY_URL", "PLUGBOARD_CORE_URL",
		"PLUGBOARD_WEB_ROOT", "PLUGBOARD_GATEWAY_MAX_BODY", "PLUGBOARD_GATEWAY_LB_POLICY", "PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT", "PLUGBOARD_GATEWAY_ACCESS_LOG",
		"PLUGBOARD_GATEWAY_BIND", "PLUGBOARD_GATEWAY_PRESERVE_HOST", "PLUGBOARD_REGISTRY_TOKEN",
		"PLUGBOARD_REGISTRY_MAX_TIMEOUT", "PLUGBOARD_REGISTRY_MAX_RETRIES"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	body, err := os.ReadFile("../../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	got, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	var pretty map[string]any
	json.Unmarshal(got, &pretty)
	got, _ = json.MarshalIndent(pretty, "", "\t")
	got = append(got, '\n')
	const golden = "testdata/Caddyfile.json"
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("the Caddyfile adapts differently from %s; review and rerun with -update:\n%s", golden, got)
	}
}
