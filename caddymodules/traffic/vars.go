package traffic

import (
	"github.com/plugboard/plugboard/caddymodules/dynamicupstreams"
	"github.com/plugboard/plugboard/caddymodules/jwtauth"
)

// The request variables the recorder reads, set by the handlers that run
// inside it. They are the only names this package takes from other modules:
// should they move, this file is the one to change.
const (
	varService = dynamicupstreams.VarService // plugboard_route: the plugin service
	varTenant  = jwtauth.VarTenantID         // jwt_auth: the caller's tenant
)
