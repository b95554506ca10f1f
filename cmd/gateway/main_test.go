package main

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/plugboard/plugboard/caddymodules/jwtauth"
	"github.com/plugboard/plugboard/internal/gatewayenv"
)

// TestListenEnv: PLUGBOARD_GATEWAY_LISTEN is a bind address, never a Host
// matcher (issue 11, finding 18: 127.0.0.1:18080 used to listen on every
// interface and answer other Hosts with an empty 200).
func TestListenEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
		err  bool
	}{
		{"unset", map[string]string{}, nil, false},
		{"loopback", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1:18080"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080", "PLUGBOARD_GATEWAY_BIND": "127.0.0.1"}, false},
		{"ipv6", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "[::1]:18080"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080", "PLUGBOARD_GATEWAY_BIND": "::1"}, false},
		{"any interface", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": ":18080"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080"}, false},
		{"bind set", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1:18080", "PLUGBOARD_GATEWAY_BIND": "10.0.0.1"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080"}, false},
		{"site wins", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1:18080", "PLUGBOARD_GATEWAY_SITE": "https://gw.example"}, nil, false},
		{"no port", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listenEnv(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.err || !maps.Equal(got, tc.want) {
				t.Fatalf("listenEnv = %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestHelp: --help lists every gateway variable (the README says each
// binary prints its variables with --help).
func TestHelp(t *testing.T) {
	var out strings.Builder
	if _, _, err := prepare([]string{"--help"}, func(string) string { return "" }, &out, io.Discard); !errors.Is(err, errHelp) {
		t.Fatalf("prepare --help: %v", err)
	}
	for _, v := range gatewayenv.Vars {
		if !strings.Contains(out.String(), "  "+v.Name+"\n") {
			t.Errorf("--help lacks %s:\n%s", v.Name, out.String())
		}
	}
}

// TestBadValueNamesTheVariable performs issue 13's finding:
// PLUGBOARD_GATEWAY_LB_POLICY=bogus failed with Caddy's "module not
// registered". Every command that adapts the Caddyfile now checks the
// variables first; list-modules does not need them.
func TestBadValueNamesTheVariable(t *testing.T) {
	env := map[string]string{"PLUGBOARD_GATEWAY_LB_POLICY": "bogus", "PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT": "soon",
		"PLUGBOARD_CORE_URL": "127.0.0.1:8082", "PLUGBOARD_DATA_DIR": t.TempDir()}
	for _, args := range [][]string{nil, {"run", "--config", "Caddyfile"}, {"validate"}, {"adapt"}} {
		_, _, err := prepare(args, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil {
			t.Fatalf("%v: accepted", args)
		}
		for _, want := range []string{
			`PLUGBOARD_GATEWAY_LB_POLICY: "bogus" is not one of client_ip_hash, cookie, first, header, ip_hash, least_conn,`,
			`PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT: "soon" is not a duration`,
			`PLUGBOARD_CORE_URL: "127.0.0.1:8082" is not an http(s) URL`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %v\nlacks %s", args, err, want)
			}
		}
	}
	if _, _, err := prepare([]string{"list-modules"}, func(k string) string { return env[k] }, io.Discard, io.Discard); err != nil {
		t.Errorf("list-modules: %v", err)
	}
	good := map[string]string{"PLUGBOARD_GATEWAY_LB_POLICY": "header X-User", "PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT": "1d",
		"PLUGBOARD_GATEWAY_MAX_BODY": "10MB", "PLUGBOARD_GATEWAY_ACCESS_LOG": "file /tmp/x.log", "PLUGBOARD_GATEWAY_ADMIN": "off",
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": "set-so-nothing-is-written"}
	if _, _, err := prepare([]string{"validate"}, func(k string) string { return good[k] }, io.Discard, io.Discard); err != nil {
		t.Errorf("good values: %v", err)
	}
}

// TestLBPoliciesAreCaddys keeps gatewayenv's list equal to the selection
// policies this build registers.
func TestLBPoliciesAreCaddys(t *testing.T) {
	var registered []string
	for _, m := range caddy.GetModules("http.reverse_proxy.selection_policies") {
		registered = append(registered, m.ID.Name())
	}
	slices.Sort(registered)
	if !slices.Equal(registered, gatewayenv.LBPolicies) {
		t.Fatalf("Caddy registers %v; gatewayenv.LBPolicies is %v", registered, gatewayenv.LBPolicies)
	}
}

// TestSigningSecretFile: serving makes the secret file when the variable
// is unset; validate and adapt write nothing (jwt_auth only reads the file,
// issue 13); a secret in the variable never reaches the adapted config.
func TestSigningSecretFile(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PLUGBOARD_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	for _, cmd := range []string{"validate", "adapt"} {
		if _, _, err := prepare([]string{cmd}, getenv, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "gateway.secret")); !os.IsNotExist(err) {
			t.Fatalf("%s made the secret file: %v", cmd, err)
		}
	}
	var notice strings.Builder
	args, _, err := prepare(nil, getenv, io.Discard, &notice)
	if err != nil || args[0] != "run" {
		t.Fatalf("prepare: %v %v", args, err)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "gateway.secret"))
	if err != nil || len(strings.TrimSpace(string(secret))) < 32 || !strings.Contains(notice.String(), "generated a signing secret") {
		t.Fatalf("secret file %q, %v; notice %q", secret, err, notice.String())
	}
	env["PLUGBOARD_DATA_DIR"] = t.TempDir()
	env["PLUGBOARD_GATEWAY_SIGNING_SECRET"] = "operator-secret-never-in-the-config-0123"
	if _, _, err := prepare(nil, getenv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(env["PLUGBOARD_DATA_DIR"]); len(entries) != 0 {
		t.Fatalf("with the variable set, prepare wrote %v", entries)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	body, err := os.ReadFile("../../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), env["PLUGBOARD_GATEWAY_SIGNING_SECRET"]) {
		t.Fatal("the adapted config holds the signing secret")
	}
	if !strings.Contains(string(cfg), `"signing_secret_file":"`+env["PLUGBOARD_DATA_DIR"]+`/gateway.secret"`) {
		t.Fatalf("the adapted config lacks the data directory's signing_secret_file:\n%s", cfg)
	}
}

// TestServiceKey: service-key prints each service's key, derived from the
// secret in the environment or, without it, from the data directory's
// file, and writes nothing.
func TestServiceKey(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PLUGBOARD_GATEWAY_SIGNING_SECRET": "master-secret-0123456789abcdef"}
	var out strings.Builder
	if _, _, err := prepare([]string{"service-key", "notes", "hello"}, func(k string) string { return env[k] }, &out, io.Discard); !errors.Is(err, errDone) {
		t.Fatalf("service-key: %v", err)
	}
	want := jwtauth.ServiceKey([]byte(env["PLUGBOARD_GATEWAY_SIGNING_SECRET"]), "notes") + "\n" +
		jwtauth.ServiceKey([]byte(env["PLUGBOARD_GATEWAY_SIGNING_SECRET"]), "hello") + "\n"
	if out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}

	env = map[string]string{"PLUGBOARD_DATA_DIR": dir}
	if _, _, err := prepare([]string{"service-key", "notes"}, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil || errors.Is(err, errDone) {
		t.Fatalf("no secret anywhere: %v, want an error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("service-key wrote %v", entries)
	}
	if err := os.WriteFile(filepath.Join(dir, "gateway.secret"), []byte("file-secret-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, _, err := prepare([]string{"service-key", "notes"}, func(k string) string { return env[k] }, &out, io.Discard); !errors.Is(err, errDone) {
		t.Fatalf("service-key from the file: %v", err)
	}
	if got := strings.TrimSpace(out.String()); got != jwtauth.ServiceKey([]byte("file-secret-0123456789abcdef"), "notes") {
		t.Fatalf("printed %q", got)
	}
	if _, _, err := prepare([]string{"service-key"}, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil || errors.Is(err, errDone) {
		t.Fatal("service-key without a name succeeded")
	}
}
