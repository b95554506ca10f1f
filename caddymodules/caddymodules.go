// Package caddymodules registers the Plugboard gateway's Caddy modules by
// blank-importing their packages, as Caddy's modules/standard does. Build
// the gateway with it: cmd/gateway imports it, and
// `xcaddy build --with github.com/plugboard/plugboard/caddymodules` works too.
//
//   - dynamicupstreams: the plugboard_registry app, the plugboard_route
//     handler and the dynamic_upstreams upstream source.
//   - problem: the plugboard_problem handler (errors as problem+json).
//   - accesslog: the plugboard_access_log handler (buffered JSON access log).
//   - pathguard: the plugboard_path_guard handler (no dot segments).
//   - requestid: the plugboard_request_id handler (X-Request-Id on every
//     request and response).
//   - jwtauth: the jwt_auth handler (authentication, endpoint policy and
//     identity headers).
//   - ratelimit: the plugboard_rate_limit handler (the endpoints' rate
//     limits, core's tenant and API-key quotas and a default per service;
//     cluster-wide through Redis).
//   - traffic: the plugboard_traffic app and handler (request counts per
//     service and tenant) and the plugboard_traffic_api handler
//     (GET /api/gateway/traffic).
//
// The modules import none of each other: what they share about a request
// (variable names, the resolved route, PublicError) is in gatewayctx.
package caddymodules

import (
	_ "github.com/plugboard/plugboard/caddymodules/accesslog"
	_ "github.com/plugboard/plugboard/caddymodules/dynamicupstreams"
	_ "github.com/plugboard/plugboard/caddymodules/jwtauth"
	_ "github.com/plugboard/plugboard/caddymodules/pathguard"
	_ "github.com/plugboard/plugboard/caddymodules/problem"
	_ "github.com/plugboard/plugboard/caddymodules/ratelimit"
	_ "github.com/plugboard/plugboard/caddymodules/requestid"
	_ "github.com/plugboard/plugboard/caddymodules/traffic"
)
