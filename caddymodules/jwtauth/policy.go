package jwtauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/registry"
)

// Policies for DefaultPolicy and a service's metadata "auth" field.
const (
	PolicyAuthenticated = "authenticated"
	PolicyPublic        = "public"
)

// isPublic reports whether the request needs no credentials.
func (h *JWTAuth) isPublic(ep *registry.Endpoint, meta json.RawMessage) bool {
	if ep != nil {
		return ep.IsPublic
	}
	if bytes.Contains(meta, []byte(`"auth"`)) {
		var m struct {
			Auth string `json:"auth"`
		}
		if json.Unmarshal(meta, &m) == nil && (m.Auth == PolicyPublic || m.Auth == PolicyAuthenticated) {
			return m.Auth == PolicyPublic
		}
	}
	return h.DefaultPolicy == PolicyPublic
}

// authorize enforces the endpoint's required roles and the tenant's
// enabled services; a super_admin passes both.
func (h *JWTAuth) authorize(ctx context.Context, reqID string, kind credential.Kind, cred string, id *identity, ep *registry.Endpoint) error {
	if id.super {
		return nil
	}
	if ep != nil && !rbac.HasAnyRole(rbac.Subject{Roles: id.Roles}, ep.RequiredRoles) {
		return &refusal{http.StatusForbidden, "This endpoint needs one of the roles " + strings.Join(ep.RequiredRoles, ", ") + ".", false}
	}
	service, _ := caddyhttp.GetVar(ctx, gatewayctx.VarService).(string)
	if service == "" {
		return nil
	}
	services := id.services
	if kind == credential.Bearer {
		var err error
		if services, err = h.tenantServices(ctx, reqID, cred, id); err != nil {
			return err
		}
	}
	if !slices.Contains(services, service) {
		return &refusal{http.StatusForbidden, fmt.Sprintf("Your tenant has not enabled the service %q.", service), false}
	}
	return nil
}
