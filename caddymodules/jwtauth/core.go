package jwtauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/coreclient"
	"github.com/plugboard/plugboard/internal/credential"
)

// This file is jwt_auth's side of core's /api/auth/verify, which
// coreclient asks and caches (by credential, with singleflight, back-off
// and stale-if-error).

// newCoreClient returns the client of core's /api/auth/verify; its cached
// value is the credential's identity with the tenant's enabled services.
func (h *JWTAuth) newCoreClient() *coreclient.Client[*identity] {
	return coreclient.New(coreclient.Config[*identity]{
		Core: h.Core,
		Convert: func(a *coreclient.Answer) *identity {
			roles := a.Roles
			if a.Kind == credential.APIKey {
				roles = rbac.KeyRoles(a.Roles, a.Scopes) // as core's API: no role without core:admin
			}
			id := newIdentity(a.UserID, a.TenantID, roles, a.Scopes, a.EnabledServices)
			id.caller.TenantQuota, id.caller.KeyQuota = a.TenantRateLimit, a.APIKeyRateLimit
			id.caller.APIKeyID = a.APIKeyID
			id.keyID = a.KeyID
			return id
		},
		Timeout:      time.Duration(h.Timeout),
		TTL:          time.Duration(h.KeyCacheTTL),
		StaleIfError: time.Duration(h.StaleIfError),
		MaxEntries:   cacheSize,
		Transport:    h.client.Transport,
		Logger:       h.logger,
		Now:          func() time.Time { return h.now() },
	})
}

// tenantServices returns the enabled services of a token's tenant, asking
// core (with the token) when they are not cached.
func (h *JWTAuth) tenantServices(ctx context.Context, reqID, token string, id *identity) ([]string, error) {
	now := h.now()
	if s, ok := h.rt.tenants.Get(id.TenantID, now); ok {
		return s, nil
	}
	gen := h.rt.tenantGen.Load()
	ans, err := h.rt.core.Verify(ctx, reqID, credential.Bearer, token, time.Time{})
	switch {
	case errors.Is(err, coreclient.ErrRefused):
		return nil, &refusal{http.StatusUnauthorized, "The access token is no longer valid.", true}
	case err != nil:
		if s, ok := h.rt.tenants.Get(id.TenantID, now.Add(-time.Duration(h.StaleIfError))); ok {
			return s, nil // core is unreachable: the tenant's last answer, within stale_if_error
		}
		return nil, err
	case ans.TenantID != id.TenantID:
		h.logger.Warn("core placed a token in another tenant", slog.String("token_tenant", id.TenantID), slog.String("core_tenant", ans.TenantID))
		return nil, errBadToken
	}
	if h.rt.tenantGen.Load() == gen { // else the feed changed the tenant meanwhile
		h.rt.tenants.Put(id.TenantID, ans.services, now.Add(time.Duration(h.KeyCacheTTL)), now)
		h.rt.quotas.Put(id.TenantID, ans.caller.TenantQuota, now.Add(time.Duration(h.KeyCacheTTL)), now)
	}
	return ans.services, nil
}

// verifyAPIKey authenticates an API key: from the cache, or by asking
// core, whose answer (acceptance or refusal) is cached for KeyCacheTTL.
func (h *JWTAuth) verifyAPIKey(ctx context.Context, reqID, key string) (*identity, error) {
	if _, _, ok := auth.ParseAPIKey(key); !ok {
		return nil, errBadKey
	}
	id, err := h.rt.core.Verify(ctx, reqID, credential.APIKey, key, time.Time{})
	if errors.Is(err, coreclient.ErrRefused) {
		return nil, errBadKey
	}
	if err == nil && id.caller.APIKeyID == "" {
		// The cached identity is shared by concurrent requests: copy it
		// with the key's public prefix rather than write to it.
		prefix, _, _ := auth.ParseAPIKey(key)
		c := *id.caller
		c.APIKeyID = prefix
		cp := *id
		cp.caller = &c
		id = &cp
	}
	return id, err
}
