// Command plugboard-gateway is the Plugboard gateway: Caddy v2 with its
// standard modules plus Plugboard's (caddymodules), the same program
// `xcaddy build --with github.com/plugboard/plugboard/caddymodules` makes.
//
// Run with no arguments it serves the Caddyfile found through
// PLUGBOARD_GATEWAY_CADDYFILE (default ./Caddyfile); with arguments it is
// the caddy command (run, adapt, validate, list-modules, …).
// PLUGBOARD_GATEWAY_LISTEN (host:port, plain HTTP) is accepted as a
// shorthand for PLUGBOARD_GATEWAY_SITE=http://host:port.
package main

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/plugboard/plugboard/caddymodules"
)

func main() {
	if os.Getenv("PLUGBOARD_GATEWAY_SITE") == "" {
		if listen := os.Getenv("PLUGBOARD_GATEWAY_LISTEN"); listen != "" {
			os.Setenv("PLUGBOARD_GATEWAY_SITE", "http://"+listen)
		}
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
