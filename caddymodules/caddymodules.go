// Package caddymodules will hold the gateway's Caddy modules: the registry
// snapshot app, the /api/{service}/… route handler, the dynamic_upstreams
// upstream source and the jwt_auth middleware, blank-imported here so that
// `xcaddy build --with github.com/plugboard/plugboard/caddymodules` and
// cmd/gateway link them all.
//
// It is empty until the gateway issue lands: no module is registered yet.
package caddymodules
