// Command plugboard-gateway is the Plugboard gateway: Caddy v2 with its
// standard modules plus Plugboard's (caddymodules), the same program
// `xcaddy build --with github.com/plugboard/plugboard/caddymodules` makes.
//
// Run with no arguments it serves the Caddyfile found through
// PLUGBOARD_GATEWAY_CADDYFILE (default ./Caddyfile); with arguments it is
// the caddy command (run, adapt, validate, list-modules, …). --help lists
// the environment variables (package gatewayenv); before the run, start,
// adapt and validate commands their values are checked, so that a bad one
// is reported by name. PLUGBOARD_GATEWAY_LISTEN (host:port, plain HTTP)
// is accepted as a shorthand for PLUGBOARD_GATEWAY_SITE=http://:port with
// PLUGBOARD_GATEWAY_BIND=host: a bind address, as every *_LISTEN is.
//
// Before serving (run), it makes the identity-signing secret file
// $PLUGBOARD_DATA_DIR/gateway.secret unless PLUGBOARD_GATEWAY_SIGNING_SECRET
// is set or the file exists: jwt_auth only reads it (signing_secret_file).
// `plugboard-gateway service-key <service>` prints the key derived from it
// that signs requests to that service, for the plugin's
// PLUGBOARD_SERVICE_KEY.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/plugboard/plugboard/caddymodules"
	"github.com/plugboard/plugboard/caddymodules/jwtauth"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/gatewayenv"
	"github.com/plugboard/plugboard/internal/secretfile"
)

func main() {
	args, set, err := prepare(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if errors.Is(err, errHelp) || errors.Is(err, errDone) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plugboard-gateway:", err)
		os.Exit(2)
	}
	for k, v := range set {
		os.Setenv(k, v)
	}
	os.Args = append(os.Args[:1], args...)
	caddycmd.Main()
}

// errHelp means --help was printed; errDone that a command of
// plugboard-gateway's own (service-key) ran.
var (
	errHelp = errors.New("help printed")
	errDone = errors.New("command done")
)

// prepare turns the command line and environment into caddy's arguments
// and the variables to set: it prints --help (errHelp), maps
// PLUGBOARD_GATEWAY_LISTEN, checks the variables before a command that
// adapts the Caddyfile and, before serving, makes the signing-secret file.
func prepare(args []string, getenv func(string) string, stdout, stderr io.Writer) ([]string, map[string]string, error) {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(stdout, "plugboard-gateway: the Plugboard gateway (Caddy with Plugboard's modules).")
		fmt.Fprintln(stdout, "With no arguments it serves $PLUGBOARD_GATEWAY_CADDYFILE (default ./Caddyfile); with arguments it is")
		fmt.Fprintln(stdout, "the caddy command (run, adapt, validate, list-modules, …; `plugboard-gateway help` lists them).")
		fmt.Fprintln(stdout, "`plugboard-gateway service-key <service>` prints the key a plugin verifies the identity headers with")
		fmt.Fprintln(stdout, "(PLUGBOARD_SERVICE_KEY), derived from the signing secret.")
		fmt.Fprintln(stdout, "Environment variables configure it:")
		envconfig.Fprint(stdout, gatewayenv.Vars)
		return nil, nil, errHelp
	}
	if len(args) > 0 && args[0] == "service-key" {
		return nil, nil, serviceKey(args[1:], getenv, stdout)
	}
	set, err := listenEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	lookup := func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return getenv(k)
	}
	if len(args) == 0 {
		file := lookup("PLUGBOARD_GATEWAY_CADDYFILE")
		if file == "" {
			file = "Caddyfile"
		}
		args = []string{"run", "--adapter", "caddyfile", "--config", file}
	}
	switch args[0] {
	case "run", "start", "adapt", "validate":
		if err := gatewayenv.Check(lookup); err != nil {
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
	}
	if args[0] == "run" && lookup("PLUGBOARD_GATEWAY_SIGNING_SECRET") == "" {
		dir := lookup("PLUGBOARD_DATA_DIR")
		if dir == "" {
			dir = "./data"
		}
		path := filepath.Join(dir, "gateway.secret")
		if _, created, err := secretfile.LoadOrCreate(path, ""); err != nil {
			return nil, nil, fmt.Errorf("PLUGBOARD_GATEWAY_SIGNING_SECRET is unset and the signing secret could not be kept: %w", err)
		} else if created {
			fmt.Fprintf(stderr, "plugboard-gateway: PLUGBOARD_GATEWAY_SIGNING_SECRET is unset: generated a signing secret into %s\n", path)
		}
	}
	return args, set, nil
}

// listenEnv maps PLUGBOARD_GATEWAY_LISTEN=host:port, when the site is not
// set, to the variables the Caddyfile reads: PLUGBOARD_GATEWAY_SITE
// http://:port (any Host) and PLUGBOARD_GATEWAY_BIND host (unless set).
// A host in the site address would be a Host matcher on every interface,
// not a bind address.
func listenEnv(getenv func(string) string) (map[string]string, error) {
	listen := getenv("PLUGBOARD_GATEWAY_LISTEN")
	if listen == "" || getenv("PLUGBOARD_GATEWAY_SITE") != "" {
		return nil, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("PLUGBOARD_GATEWAY_LISTEN %q: want host:port: %w", listen, err)
	}
	set := map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:" + port}
	if host != "" && getenv("PLUGBOARD_GATEWAY_BIND") == "" {
		set["PLUGBOARD_GATEWAY_BIND"] = host
	}
	return set, nil
}

// serviceKey prints the key of each named service, derived from the
// signing secret (PLUGBOARD_GATEWAY_SIGNING_SECRET, or the data
// directory's gateway.secret, which it only reads), one per line.
func serviceKey(names []string, getenv func(string) string, stdout io.Writer) error {
	if len(names) == 0 {
		return errors.New("service-key: name the service: plugboard-gateway service-key <service> [<service>]")
	}
	master := getenv("PLUGBOARD_GATEWAY_SIGNING_SECRET")
	if master == "" {
		dir := getenv("PLUGBOARD_DATA_DIR")
		if dir == "" {
			dir = "./data"
		}
		b, err := os.ReadFile(filepath.Join(dir, "gateway.secret"))
		if err != nil {
			return fmt.Errorf("service-key: PLUGBOARD_GATEWAY_SIGNING_SECRET is unset and the gateway's secret file cannot be read: %w", err)
		}
		master = strings.TrimSpace(string(b))
	}
	for _, name := range names {
		if name == "" {
			return errors.New("service-key: empty service name")
		}
		fmt.Fprintln(stdout, jwtauth.ServiceKey([]byte(master), name))
	}
	return errDone
}
