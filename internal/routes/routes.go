// Package routes is the one list of the platform's own first path segments
// under /api/: the prefixes core serves, and those of the registry and the
// gateway. The registry reserves them all as service names; the shipped
// Caddyfile's @core matcher, the docs and the benchmarks that must spell
// them out are checked against this list by its tests.
package routes

import "strings"

// Core returns the first path segments under /api/ that core serves, in
// the order the docs list them.
func Core() []string {
	return []string{"auth", "users", "tenants", "api-keys", "config", "roles", "audit"}
}

// Platform returns the first path segments under /api/ that the platform's
// other components serve: the registry's API and the gateway's own.
func Platform() []string {
	return []string{"registry", "gateway"}
}

// Reserved returns every platform segment (Platform, then Core): no plugin
// may take one as its service name.
func Reserved() []string {
	return append(Platform(), Core()...)
}

// CoreRegexp returns the case-insensitive regular expression that matches
// a cleaned path under one of core's prefixes, alone or with a subpath:
// the shipped Caddyfile's `@core path_regexp`.
func CoreRegexp() string {
	return `^(?i)/api/(` + strings.Join(Core(), "|") + `)(/|$)`
}
