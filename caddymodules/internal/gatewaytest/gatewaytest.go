// Package gatewaytest is the plumbing the gateway modules' tests share:
// running Caddy in process from a Caddyfile, a registry to route from, a
// free port and a condition wait. Caddy is process global, so tests that
// load a Caddyfile must not run in parallel.
package gatewaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the caddyfile adapter
)

// LoadCaddyfile adapts the Caddyfile at path, its text passed through edit
// first (nil: as it is), and runs it until the test ends. Caddy's own logs
// go nowhere, unless the test runs with -v and PLUGBOARD_TEST_CADDY_LOGS
// set. Its {$VAR} placeholders read the environment: set it first
// (t.Setenv), with XDG_DATA_HOME and XDG_CONFIG_HOME under t.TempDir() so
// that Caddy writes nothing under $HOME.
func LoadCaddyfile(t testing.TB, path string, edit func(string) string) {
	t.Helper()
	if err := TryCaddyfile(t, path, edit); err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
}

// TryCaddyfile is LoadCaddyfile for a config that may fail to load: it
// returns Caddy's error instead of failing the test (a failed adaptation
// still fails it).
func TryCaddyfile(t testing.TB, path string, edit func(string) string) error {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		body = []byte(edit(string(body)))
	}
	cfgJSON, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": path})
	if err != nil {
		t.Fatalf("adapt %s: %v", path, err)
	}
	for _, w := range warns {
		t.Logf("adapt warning: %s", w.String())
	}
	if err := caddy.Load(QuietLogs(t, cfgJSON), true); err != nil {
		return err
	}
	t.Cleanup(func() { caddy.Stop() })
	return nil
}

// QuietLogs points every Caddy log of an adapted config at discard (see
// LoadCaddyfile), for tests that load a config themselves.
func QuietLogs(t testing.TB, cfgJSON []byte) []byte {
	if testing.Verbose() && os.Getenv("PLUGBOARD_TEST_CADDY_LOGS") != "" {
		return cfgJSON
	}
	var cfg map[string]any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	logging, _ := cfg["logging"].(map[string]any)
	if logging == nil {
		logging = map[string]any{}
		cfg["logging"] = logging
	}
	logs, _ := logging["logs"].(map[string]any)
	if logs == nil {
		logs = map[string]any{}
		logging["logs"] = logs
	}
	if logs["default"] == nil {
		logs["default"] = map[string]any{}
	}
	for _, l := range logs {
		l.(map[string]any)["writer"] = map[string]any{"output": "discard"}
	}
	out, _ := json.Marshal(cfg)
	return out
}

// ServeChildIfAsked is for TestMain: when the environment variable
// childEnv is "1", the test binary is a second gateway (Caddy is process
// global, so two gateways need two processes) that serves the Caddyfile
// at path until its stdin closes, then stops; ServeChildIfAsked then
// returns true and TestMain should return without running the tests.
func ServeChildIfAsked(childEnv, path string) bool {
	if os.Getenv(childEnv) != "1" {
		return false
	}
	body, err := os.ReadFile(path)
	var cfg []byte
	if err == nil {
		cfg, _, err = caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": path})
	}
	if err == nil {
		var m map[string]any
		if err = json.Unmarshal(cfg, &m); err == nil {
			m["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{"writer": map[string]any{"output": "discard"}}}}
			cfg, _ = json.Marshal(m)
			err = caddy.Load(cfg, true)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child gateway:", err)
		os.Exit(2)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = caddy.Stop()
	return true
}

// StartChild runs the test binary as a second gateway (see
// ServeChildIfAsked) on the test's environment, listening at site
// (PLUGBOARD_GATEWAY_SITE), until the test ends; its stderr is logged if
// the test fails. env adds variables (NAME=value) to the child's.
func StartChild(t *testing.T, childEnv, site string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"=1", "PLUGBOARD_GATEWAY_SITE="+site), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("second gateway's stderr:\n%s", stderr.String())
		}
	})
}
