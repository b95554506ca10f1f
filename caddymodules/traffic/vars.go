package traffic

import "github.com/plugboard/plugboard/caddymodules/gatewayctx"

// The request variables the recorder reads, set by the handlers that run
// inside it (gatewayctx is their one home).
const (
	varService = gatewayctx.VarService  // plugboard_route: the plugin service
	varTenant  = gatewayctx.VarTenantID // jwt_auth: the caller's tenant
	// plugboard_route: the *gatewayctx.Resolved, whose Version
	// dynamic_upstreams sets
	varResolved = gatewayctx.VarResolved
)
