// Package gatewayctx is what the gateway's Caddy modules share about a
// request, so that none imports another: the names of the request
// variables they set and read, the route plugboard_route resolved, and
// PublicError, the error whose message plugboard_problem shows clients.
// It is a leaf: it registers no module and imports none of ours.
package gatewayctx

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/registry"
)

// Request variables; Caddyfiles read them as {vars.pb_service} (dot-free
// names, which the {vars.*} shorthand needs). Few on purpose: Caddy keeps
// request variables in a map that leaves its cheap small form past eight.
const (
	// VarService is the service name (plugboard_route).
	VarService = "pb_service"
	// VarResolved holds the *Resolved route (plugboard_route), for Go
	// handlers such as jwt_auth; read it with ResolvedFrom.
	VarResolved = "pb_resolved"
	// VarHost is the Host header a service in plugboard_route's
	// preserve_host receives (the client's); unset for every other service,
	// whose instances receive their own host:port (dynamic_upstreams sets
	// it; an empty Host makes Go's client send the dial address).
	VarHost = "pb_host"
	// VarUserID and VarTenantID are the caller's user and tenant (jwt_auth).
	VarUserID   = "pb_user_id"
	VarTenantID = "pb_tenant_id"
	// VarCaller holds the *Caller jwt_auth verified, for Go handlers such
	// as plugboard_rate_limit; read it with CallerFrom.
	VarCaller = "pb_caller"
)

// Caller is what jwt_auth verified about a request's credential beyond
// the user and tenant: the API key, and the quotas core set for the
// tenant and the key (nil: none).
type Caller struct {
	UserID, TenantID string
	// APIKeyID is the API key's public prefix when the credential is an
	// API key; empty for a token.
	APIKeyID string
	// TenantQuota and KeyQuota are core's per-tenant and per-API-key rate
	// limits, from its /api/auth/verify answer.
	TenantQuota, KeyQuota *registry.RateLimit
}

// CallerFrom returns the caller jwt_auth verified for the request of ctx,
// or nil (no credential, or a public endpoint's caller without one).
func CallerFrom(ctx context.Context) *Caller {
	c, _ := caddyhttp.GetVar(ctx, VarCaller).(*Caller)
	return c
}

// HeaderRequestID is the request-ID header plugboard_request_id sets on
// every request and response.
const HeaderRequestID = "X-Request-Id"

// Resolved is what plugboard_route found for a request.
type Resolved struct {
	Service  string
	BasePath string // the service's base path
	Path     string // the path within the service, as sent
	// Endpoint is the endpoint whose rule applies to the request (see
	// dynamicupstreams.MatchEndpoint); nil when none does.
	Endpoint *registry.Endpoint
	// Undeclared is true when no declared endpoint matches the request's
	// method and path; Endpoint may still carry the strictest rule of the
	// path's other methods.
	Undeclared bool
	// UndeclaredPaths is the service's policy for undeclared requests.
	UndeclaredPaths registry.UndeclaredPaths
	Metadata        json.RawMessage // the service's metadata
	// Pin is the version the request's pin header names, when the service
	// has routing rules (registry.RoutingRules); plugboard_route reads it
	// before it strips the client's X-Plugboard-* headers.
	Pin string
	// ResponseHeader is the response's header map, where the upstream
	// source says which version served (registry.VersionHeader), set when
	// the service has routing rules.
	ResponseHeader http.Header
	// Version is the version dynamic_upstreams chose to serve the request
	// (the last attempt's), one of the registry's; "" when the service has
	// no routing rules or no version was live. plugboard_traffic counts
	// by it.
	Version string
}

// ResolvedFrom returns the route plugboard_route resolved for the request
// of ctx, or nil.
func ResolvedFrom(ctx context.Context) *Resolved {
	r, _ := caddyhttp.GetVar(ctx, VarResolved).(*Resolved)
	return r
}

// PublicError is an error whose message is safe to show clients:
// plugboard_problem shows it as the problem's detail. Handlers return it
// inside caddyhttp.Error(status, PublicError{…}).
type PublicError struct{ Message string }

func (e PublicError) Error() string { return e.Message }
