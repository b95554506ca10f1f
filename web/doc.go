// Package web carries the admin console's built files (web/dist) into a
// release gateway. Built with the embedconsole tag (make release-gateway),
// plugboard-gateway holds the console and, when PLUGBOARD_WEB_ROOT is not
// set, writes it once into the data directory and serves it from there,
// so one binary and the Caddyfile are all a gateway host needs. Without
// the tag nothing is embedded, and no Go build needs npm.
package web
