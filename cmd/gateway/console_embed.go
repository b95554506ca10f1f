//go:build embedconsole

package main

import (
	"fmt"
	"os"

	"github.com/plugboard/plugboard/web"
)

// A release gateway (make release-gateway) carries the admin console: unless
// PLUGBOARD_WEB_ROOT names a directory, it writes the console it was built
// with into the data directory once and serves it from there.
func init() {
	if os.Getenv("PLUGBOARD_WEB_ROOT") != "" {
		return
	}
	dataDir := os.Getenv("PLUGBOARD_DATA_DIR")
	if dataDir == "" {
		dataDir = "data"
	}
	dir, err := web.Extract(web.Console(), dataDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plugboard-gateway: the embedded console:", err)
		return
	}
	os.Setenv("PLUGBOARD_WEB_ROOT", dir)
}
