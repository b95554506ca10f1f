// Command plugboard-gateway is the Plugboard gateway: Caddy v2 with its
// standard modules plus Plugboard's (caddymodules), the same program
// `xcaddy build --with github.com/plugboard/plugboard/caddymodules` makes.
//
// Run with no arguments it serves the Caddyfile found through
// PLUGBOARD_GATEWAY_CADDYFILE (default ./Caddyfile); with arguments it is
// the caddy command (run, adapt, validate, list-modules, …).
// PLUGBOARD_GATEWAY_LISTEN (host:port, plain HTTP) is accepted as a
// shorthand for PLUGBOARD_GATEWAY_SITE=http://:port with
// PLUGBOARD_GATEWAY_BIND=host: a bind address, as every *_LISTEN is.
package main

import (
	"fmt"
	"net"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/plugboard/plugboard/caddymodules"
)

func main() {
	set, err := listenEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plugboard-gateway:", err)
		os.Exit(2)
	}
	for k, v := range set {
		os.Setenv(k, v)
	}
	if len(os.Args) == 1 {
		file := os.Getenv("PLUGBOARD_GATEWAY_CADDYFILE")
		if file == "" {
			file = "Caddyfile"
		}
		os.Args = append(os.Args, "run", "--adapter", "caddyfile", "--config", file)
	}
	caddycmd.Main()
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
