// Command plugboard is the developer's launcher: `plugboard run` starts every
// Plugboard process built next to it (plugboard-registry, plugboard-core,
// then plugboard-gateway with ./Caddyfile) on the embedded defaults, waits
// until each answers, and stops all of them on Ctrl-C or SIGTERM. `make run`
// uses it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/plugboard/plugboard/core/cored"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/gatewayenv"
	"github.com/plugboard/plugboard/internal/secretfile"
	"github.com/plugboard/plugboard/registry/registryd"
	"github.com/plugboard/plugboard/sdk"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], env.ToMap(os.Environ()), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "plugboard:", err)
		os.Exit(1)
	}
}

// exit reports that a child process ended.
type exit struct {
	name string
	err  error
}

// component is one process of the stack.
type component struct {
	name   string // binary name in bin/
	health string // URL that answers 200 once it is up
}

// usage is the launcher's command line.
const usage = `usage: plugboard run    (start the whole stack; Ctrl-C stops it)
       plugboard demo   (the same, plus the example plugins hello-go and notes-py)
`

// help prints usage and every variable the launcher passes on to the
// processes it starts (each listed once).
func help(w io.Writer) {
	fmt.Fprint(w, "plugboard: the developer's launcher of the Plugboard stack.\n"+usage)
	fmt.Fprintln(w, "Environment variables, passed on to every process (see each binary's --help):")
	seen := map[string]bool{}
	var vars []envconfig.Var
	for _, vs := range [][]envconfig.Var{envconfig.Describe(registryd.Config{}), envconfig.Describe(cored.Config{}), gatewayenv.Vars} {
		for _, v := range vs {
			if !seen[v.Name] {
				seen[v.Name] = true
				vars = append(vars, v)
			}
		}
	}
	envconfig.Fprint(w, vars)
}

func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		help(stdout)
		return nil
	}
	if len(args) != 1 || (args[0] != "run" && args[0] != "demo") {
		fmt.Fprint(stderr, usage)
		return errors.New("unknown command; see --help")
	}
	demo := args[0] == "demo"
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	binDir := filepath.Dir(self)
	if _, ok := environ["PLUGBOARD_LOG_FORMAT"]; !ok {
		environ["PLUGBOARD_LOG_FORMAT"] = "text"
	}
	regCfg, err := envconfig.Parse[registryd.Config](environ)
	if err != nil {
		return err
	}
	coreCfg, err := envconfig.Parse[cored.Config](environ)
	if err != nil {
		return err
	}
	// PLUGBOARD_GATEWAY_LISTEN is a bind address, as every *_LISTEN is:
	// http://:port bound to host. (A host in the site address would be a
	// Host matcher on every interface.)
	if listen := environ["PLUGBOARD_GATEWAY_LISTEN"]; environ["PLUGBOARD_GATEWAY_SITE"] == "" && listen != "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return fmt.Errorf("PLUGBOARD_GATEWAY_LISTEN %q: want host:port: %w", listen, err)
		}
		environ["PLUGBOARD_GATEWAY_SITE"] = "http://:" + port
		if host != "" && environ["PLUGBOARD_GATEWAY_BIND"] == "" {
			environ["PLUGBOARD_GATEWAY_BIND"] = host
		}
	}
	// The gateway's variables, checked here so that a bad one is named
	// before anything starts (the gateway checks them too).
	if err := gatewayenv.Check(func(k string) string { return environ[k] }); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	gateway := gatewayURL(environ["PLUGBOARD_GATEWAY_SITE"], environ["PLUGBOARD_GATEWAY_BIND"])
	// The gateway signs identity headers for plugins with a secret they
	// share; generate one into the data directory on first run.
	if environ["PLUGBOARD_GATEWAY_SIGNING_SECRET"] == "" {
		secret, err := loadOrCreateSecret(filepath.Join(regCfg.DataDir, "gateway.secret"))
		if err != nil {
			return err
		}
		environ["PLUGBOARD_GATEWAY_SIGNING_SECRET"] = secret
	}
	// The gateway finds the services where they listen unless told otherwise.
	if _, ok := environ["PLUGBOARD_REGISTRY_URL"]; !ok {
		environ["PLUGBOARD_REGISTRY_URL"] = "http://" + regCfg.Listen
	}
	if _, ok := environ["PLUGBOARD_CORE_URL"]; !ok {
		environ["PLUGBOARD_CORE_URL"] = "http://" + coreCfg.Listen
	}
	stack := []component{
		{"plugboard-registry", "http://" + regCfg.Listen + "/healthz"},
		{"plugboard-core", "http://" + coreCfg.Listen + "/healthz"},
		{"plugboard-gateway", gateway + "/"},
	}
	var env []string
	for k, v := range environ {
		env = append(env, k+"="+v)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exits := make(chan exit, len(stack)+2)
	var running []*exec.Cmd
	stopAll := func() {
		for _, c := range running {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		deadline := time.After(20 * time.Second)
		for range running {
			select {
			case <-exits:
			case <-deadline:
				for _, c := range running {
					_ = c.Process.Kill()
				}
				return
			}
		}
	}
	for _, c := range stack {
		path := filepath.Join(binDir, c.name)
		if _, err := os.Stat(path); err != nil {
			continue // not built (yet)
		}
		cmd := exec.Command(path)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
		// Children die with the launcher even if it is killed outright.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			stopAll()
			return fmt.Errorf("start %s: %w", c.name, err)
		}
		running = append(running, cmd)
		go func() { exits <- exit{c.name, cmd.Wait()} }()
		if err := waitHealthy(ctx, c.health, exits); err != nil {
			stopAll()
			return fmt.Errorf("%s did not come up: %w", c.name, err)
		}
		fmt.Fprintf(stdout, "plugboard: %s is up (%s)\n", c.name, c.health)
		if c.name == "plugboard-registry" {
			printRegistryToken(stdout, regCfg)
		}
	}
	if len(running) == 0 {
		return fmt.Errorf("no Plugboard binaries next to %s; run `make build` first", self)
	}
	if demo {
		plugins, err := demoPlugins(binDir, regCfg, environ)
		if err != nil {
			stopAll()
			return err
		}
		for _, p := range plugins {
			p.cmd.Env = pluginEnv(env, environ["PLUGBOARD_GATEWAY_SIGNING_SECRET"], p)
			p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
			p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
			if err := p.cmd.Start(); err != nil {
				stopAll()
				return fmt.Errorf("start %s: %w", p.name, err)
			}
			running = append(running, p.cmd)
			go func() { exits <- exit{p.name, p.cmd.Wait()} }()
		}
		for _, p := range plugins {
			// A public endpoint answers anyone once the plugin is routable.
			public := gateway + "/api/" + p.service + p.public
			if err := waitHealthy(ctx, public, exits); err != nil {
				stopAll()
				return fmt.Errorf("example plugin %s did not become routable: %w", p.name, err)
			}
			fmt.Fprintf(stdout, "plugboard: example plugin %s is up: curl %s\n", p.name, public)
		}
		printDemoLogin(stdout, gateway, coreCfg, plugins)
	}
	fmt.Fprintf(stdout, "plugboard: stack running (data in %s); gateway at %s; press Ctrl-C to stop\n",
		regCfg.DataDir, gateway)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "plugboard: stopping")
		stopAll()
		return nil
	case e := <-exits:
		running = without(running, e.name)
		stopAll()
		return fmt.Errorf("%s exited: %v", e.name, e.err)
	}
}

// plugin is an example plugin the demo starts.
type plugin struct {
	name, service string
	cmd           *exec.Cmd
	env           []string
	// public is a path of a public endpoint (anyone may call it); private
	// the curl arguments after the URL of a call that needs a login.
	public, private string
}

// pluginEnv is the environment of an example plugin: the launcher's,
// without the gateway's master signing secret, plus the plugin's own
// variables and its service's key (PLUGBOARD_SERVICE_KEY), so that it can
// verify requests to itself and sign for no other service.
func pluginEnv(env []string, master string, p plugin) []string {
	out := make([]string, 0, len(env)+len(p.env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PLUGBOARD_GATEWAY_SIGNING_SECRET=") {
			out = append(out, kv)
		}
	}
	out = append(out, p.env...)
	return append(out, "PLUGBOARD_SERVICE_KEY="+sdk.ServiceKey([]byte(master), p.service))
}

// demoPlugins are the example plugins, registered with the registry token
// the registry keeps in the data directory: hello-go (built next to the
// launcher) on port 9101 and notes-py (python3) on 9102.
func demoPlugins(binDir string, regCfg registryd.Config, environ map[string]string) ([]plugin, error) {
	token := regCfg.Token
	if token == "" {
		b, err := os.ReadFile(filepath.Join(regCfg.DataDir, registryd.TokenFile))
		if err != nil {
			return nil, fmt.Errorf("read the registry token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	common := []string{"PLUGBOARD_REGISTRY_TOKEN=" + token, "PLUGBOARD_HEARTBEAT_INTERVAL=10s"}
	var out []plugin
	if _, err := os.Stat(filepath.Join(binDir, "hello-go")); err == nil {
		out = append(out, plugin{name: "hello-go", service: "hello", cmd: exec.Command(filepath.Join(binDir, "hello-go")),
			env: append([]string{"PLUGBOARD_SERVICE_PORT=9101"}, common...), public: "/hello", private: "/whoami"})
	}
	if py, err := exec.LookPath("python3"); err == nil {
		if _, err := os.Stat(filepath.Join("examples", "notes-py", "notes.py")); err == nil {
			out = append(out, plugin{name: "notes-py", service: "notes", cmd: exec.Command(py, filepath.Join("examples", "notes-py", "notes.py")),
				env:    append([]string{"PLUGBOARD_SERVICE_PORT=9102", "PYTHONPATH=" + filepath.Join("sdk", "python"), "PYTHONUNBUFFERED=1"}, common...),
				public: "/health", private: `/notes -d '{"text":"hello"}'`})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no example plugin found: run `make demo` from the repository root")
	}
	return out, nil
}

// printDemoLogin shows how to call the example plugins' endpoints that need
// an identity: log in as the super admin (core printed a generated password
// on the first start), then send the access token.
func printDemoLogin(w io.Writer, gateway string, cfg cored.Config, plugins []plugin) {
	password := cfg.AdminPassword
	if password == "" {
		password = "<the password core printed on the first start>"
	}
	var login strings.Builder
	enc := json.NewEncoder(&login)
	enc.SetEscapeHTML(false) // keep the placeholder's <> readable
	_ = enc.Encode(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{cfg.AdminUser, password})
	fmt.Fprintln(w, "plugboard: the other endpoints need a login:")
	fmt.Fprintf(w, "plugboard:   TOKEN=$(curl -s %s/api/auth/login -d '%s' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n", gateway, strings.TrimSpace(login.String()))
	for _, p := range plugins {
		fmt.Fprintf(w, "plugboard:   curl -H \"Authorization: Bearer $TOKEN\" %s/api/%s%s\n", gateway, p.service, p.private)
	}
}

// loadOrCreateSecret returns the secret kept in path, creating a random one
// (mode 0600) when the file does not exist.
func loadOrCreateSecret(path string) (string, error) {
	secret, _, err := secretfile.LoadOrCreate(path, "")
	return secret, err
}

// gatewayURL is where the launcher reaches a gateway serving site (the
// Caddyfile's PLUGBOARD_GATEWAY_SITE, default http://:8080) on the
// interface bind (PLUGBOARD_GATEWAY_BIND, Caddy's default_bind; empty: all).
func gatewayURL(site, bind string) string {
	if site == "" {
		site = "http://:8080"
	}
	scheme := "http"
	if s, rest, ok := strings.Cut(site, "://"); ok {
		scheme, site = s, rest
	}
	host, port, err := net.SplitHostPort(site)
	if err != nil {
		host, port = site, "80"
		if scheme == "https" {
			port = "443"
		}
	}
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
		if b, _, _ := strings.Cut(strings.TrimSpace(bind), " "); b != "" && b != "0.0.0.0" && b != "::" {
			host = b
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// printRegistryToken shows the token plugins register with: the configured
// one, or the one the registry generated and keeps in the data directory.
func printRegistryToken(w io.Writer, cfg registryd.Config) {
	token := cfg.Token
	if token == "" {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, registryd.TokenFile))
		if err != nil {
			fmt.Fprintf(w, "plugboard: could not read the registry token: %v\n", err)
			return
		}
		token = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(w, "plugboard: registry token (plugins send Authorization: Bearer <token>): %s\n", token)
	fmt.Fprintf(w, "plugboard:   curl -H 'Authorization: Bearer %s' -d '{\"name\":\"hello\",\"host\":\"127.0.0.1\",\"port\":9000}' http://%s/api/registry/register\n", token, cfg.Listen)
}

func without(cmds []*exec.Cmd, name string) []*exec.Cmd {
	var out []*exec.Cmd
	for _, c := range cmds {
		if filepath.Base(c.Path) != name {
			out = append(out, c)
		}
	}
	return out
}

// waitHealthy polls url until it answers 200 (nil), a child exits (that
// exit, re-sent on exits, as the error), ctx ends or 30 s pass.
func waitHealthy(ctx context.Context, url string, exits chan exit) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case e := <-exits:
			exits <- e
			return fmt.Errorf("%s exited: %v", e.name, e.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer from %s within 30s", url)
}
