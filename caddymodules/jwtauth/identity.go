package jwtauth

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/core/rbac"
)

// identity is who a credential speaks for, with its header values ready.
type identity struct {
	UserID, TenantID string
	Roles            []string
	roles, scopes    string // comma-separated
	super            bool
	// services are the tenant's enabled services when core answered for
	// the credential (an API key, or a token asked about for them); nil
	// for a token verified offline.
	services []string
	// caller is what plugboard_rate_limit reads (gatewayctx.VarCaller),
	// made once per identity.
	caller *gatewayctx.Caller
	// sessionID, issuedAt and expires (unix seconds) are a token's sid,
	// iat and exp, checked against the feed's revocations; keyID is the
	// API key core answered for.
	sessionID         string
	issuedAt, expires int64
	keyID             string
}

func newIdentity(user, tenant string, roles, scopes, services []string) *identity {
	return &identity{
		UserID: user, TenantID: tenant, Roles: roles,
		roles: strings.Join(roles, ","), scopes: strings.Join(scopes, ","),
		super:    rbac.IsSuperAdmin(rbac.Subject{Roles: roles}),
		services: services,
		caller:   &gatewayctx.Caller{UserID: user, TenantID: tenant},
	}
}

// signedPath is the request target the signature covers: the path and
// query the service itself receives (plugboard_route has already pointed
// the request at {base_path}/{path}), so that the service checks it
// against its own request and a signed request cannot be replayed with
// another query.
func signedPath(r *http.Request) string {
	return r.URL.RequestURI()
}

// setIdentity sets the identity headers, signed with service's key, and
// the vars.
func (h *JWTAuth) setIdentity(r *http.Request, service string, id *identity) {
	ts := strconv.FormatInt(h.now().Unix(), 10)
	sig := h.rt.signers.sign(service, r.Method, signedPath(r), id.UserID, id.TenantID, id.roles, id.scopes, ts)
	hd := r.Header // the names are canonical already
	hd[HeaderUserID] = []string{id.UserID}
	hd[HeaderTenantID] = []string{id.TenantID}
	hd[HeaderRoles] = []string{id.roles}
	hd[HeaderScopes] = []string{id.scopes}
	hd[HeaderTimestamp] = []string{ts}
	hd[HeaderSignature] = []string{sig}
	caddyhttp.SetVar(r.Context(), gatewayctx.VarUserID, id.UserID)
	caddyhttp.SetVar(r.Context(), gatewayctx.VarTenantID, id.TenantID)
	caller := id.caller
	if id.services == nil && id.TenantID != "" {
		// A token verified offline: its tenant's quota is what core said
		// when asked about the tenant's services (tenantServices).
		if q, ok := h.rt.quotas.Get(id.TenantID, h.now()); ok && q != nil {
			c := *caller
			c.TenantQuota = q
			caller = &c
		}
	}
	caddyhttp.SetVar(r.Context(), gatewayctx.VarCaller, caller)
}

// stripIdentityHeaders removes every header whose name starts with
// X-Plugboard-, in any case.
func stripIdentityHeaders(hd http.Header) {
	const prefix = "X-Plugboard-"
	for k := range hd {
		// X-Plugboard-Service is plugboard_route's, set after it stripped
		// the client's own.
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) && k != "X-Plugboard-Service" {
			delete(hd, k)
		}
	}
}
