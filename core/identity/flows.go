package identity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/fault"
)

// errBadLogin is the one answer to every failed login, so that it never
// tells which of tenant, user or password was wrong.
var errBadLogin = fault.Errorf(fault.Unauthorized, "Invalid tenant, username or password.")

// Login checks a tenant's user's password and starts a session. Failures
// are throttled per (user, client address) with a growing backoff, per
// address across users, and per user across addresses — the last never
// for an address the user logged in from lately — in every replica alike
// (see throttle.go); a refusal is rate_limited and RetryAfter says how
// long to wait.
func (s *Service) Login(ctx context.Context, tenantName, username, password, remoteAddr string) (*Tokens, *core.User, error) {
	keys := newLoginKeys(tenantName, username, remoteAddr)
	release, err := s.admit(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	fail := func() (*Tokens, *core.User, error) {
		s.failed(ctx, keys)
		return nil, nil, errBadLogin
	}
	tenant, err := s.store.GetTenantByName(ctx, tenantName)
	if fault.Is(err, fault.NotFound) {
		auth.CheckPassword(s.dummyHash, password) // same cost as a real check
		return fail()
	}
	if err != nil {
		return nil, nil, err
	}
	user, err := s.store.GetUserByUsername(ctx, tenant.ID, username)
	if fault.Is(err, fault.NotFound) {
		auth.CheckPassword(s.dummyHash, password)
		return fail()
	}
	if err != nil {
		return nil, nil, err
	}
	if !auth.CheckPassword(user.HashedPassword, password) {
		return fail()
	}
	if !user.IsActive || !tenant.IsActive {
		return nil, nil, fault.Errorf(fault.Unauthorized, "This account is deactivated.")
	}
	s.succeeded(ctx, keys)
	now := s.now().UTC()
	if err := s.store.RecordLogin(ctx, user.ID, now); err != nil {
		s.logger.Warn("could not record a login", slog.Any("error", err))
	}
	tokens, err := s.startSession(ctx, user, tenant, uuid.Must(uuid.NewV7()).String(), now)
	return tokens, user, err
}

// startSession issues an access token and a new refresh token of family.
func (s *Service) startSession(ctx context.Context, user *core.User, tenant *core.Tenant, family string, now time.Time) (*Tokens, error) {
	ring := s.ring.Load()
	if ring == nil || ring.signer == nil {
		return nil, fault.Errorf(fault.Unavailable, "No signing key is available.")
	}
	access, _, err := s.issuer.Sign(ring.signer, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user.ID},
		TenantID:         tenant.ID, TenantName: tenant.Name, Username: user.Username,
		Roles: []string{string(user.Role)}, SessionID: family,
	}, now)
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	refresh, hash, err := auth.NewOpaqueToken("pbrt")
	if err != nil {
		return nil, fmt.Errorf("refresh token: %w", err)
	}
	if err := s.store.CreateRefreshToken(ctx, &core.RefreshToken{
		FamilyID: family, UserID: user.ID, TokenHash: hash, CreatedAt: now, ExpiresAt: now.Add(s.opt.RefreshTTL),
	}); err != nil {
		return nil, err
	}
	return &Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", ExpiresIn: int(s.opt.AccessTTL.Seconds())}, nil
}

var errBadRefresh = fault.Errorf(fault.Unauthorized, "The refresh token is invalid, expired or revoked; log in again.")

// Refresh exchanges a refresh token for new tokens, rotating it: the old
// one stops working. Presenting a token that was already exchanged is taken
// as theft, and revokes the whole session.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	if refreshToken == "" {
		return nil, errBadRefresh
	}
	now := s.now().UTC()
	rt, err := s.store.UseRefreshToken(ctx, auth.HashToken(refreshToken), now)
	if fault.Is(err, fault.NotFound) {
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, err
	}
	if rt.UsedAt != nil && rt.RevokedAt == nil {
		s.logger.Warn("a rotated refresh token was reused; revoking its session", slog.String("user_id", rt.UserID), slog.String("session", rt.FamilyID))
		if err := s.store.RevokeFamily(ctx, rt.FamilyID, now); err != nil {
			return nil, err
		}
		return nil, errBadRefresh
	}
	if rt.UsedAt != nil || rt.RevokedAt != nil || !now.Before(rt.ExpiresAt) {
		return nil, errBadRefresh
	}
	user, err := s.store.GetUser(ctx, rt.UserID)
	if err != nil {
		return nil, errBadRefresh
	}
	tenant, err := s.store.GetTenant(ctx, user.TenantID)
	if err != nil {
		return nil, errBadRefresh
	}
	if !user.IsActive || !tenant.IsActive {
		_ = s.store.RevokeFamily(ctx, rt.FamilyID, now)
		return nil, fault.Errorf(fault.Unauthorized, "This account is deactivated.")
	}
	tokens, err := s.startSession(ctx, user, tenant, rt.FamilyID, now)
	if err != nil {
		return nil, err
	}
	// A logout, password change or deactivation that revoked the session
	// while this refresh ran marked the old token revoked but could not see
	// the new one: look again, now that the new one exists (a revocation
	// after this look finds it).
	again, err := s.store.UseRefreshToken(ctx, rt.TokenHash, now)
	if err != nil && !fault.Is(err, fault.NotFound) {
		return nil, fmt.Errorf("look at the refresh token again: %w", err)
	}
	if err != nil || again.RevokedAt != nil {
		_ = s.store.RevokeFamily(ctx, rt.FamilyID, now)
		return nil, errBadRefresh
	}
	return tokens, nil
}

// Logout ends the session a refresh token belongs to (if the token is
// known) or the session of sessionID.
func (s *Service) Logout(ctx context.Context, refreshToken, sessionID string) error {
	now := s.now().UTC()
	if refreshToken != "" {
		rt, err := s.store.UseRefreshToken(ctx, auth.HashToken(refreshToken), now)
		if err == nil {
			sessionID = rt.FamilyID
		} else if !fault.Is(err, fault.NotFound) {
			return err
		}
	}
	if sessionID == "" {
		return nil
	}
	return s.store.RevokeFamily(ctx, sessionID, now)
}

// EndUserSessions revokes every session of a user (password change,
// deactivation).
func (s *Service) EndUserSessions(ctx context.Context, userID string) error {
	return s.store.RevokeUserSessions(ctx, userID, s.now().UTC())
}

var errBadToken = fault.Errorf(fault.Unauthorized, "The access token is invalid or expired.")

// Authenticate verifies an access token and returns its claims. An unknown
// kid reloads the keys (another replica may have rotated) at most once a
// second.
func (s *Service) Authenticate(ctx context.Context, token string) (*auth.Claims, error) {
	v := auth.Verifier{Issuer: s.opt.Issuer, Audience: s.opt.Audience, Keys: s.publicKey}
	claims, err := v.Verify(token, s.now())
	if errors.Is(err, auth.ErrUnknownKey) && time.Since(time.Unix(0, s.lastLoad.Load())) > time.Second {
		if rerr := s.RotateKeys(ctx); rerr == nil {
			claims, err = v.Verify(token, s.now())
		}
	}
	if err != nil {
		return nil, errBadToken
	}
	// The token says who the user was when it was issued; act on who they
	// are now: a deactivated user or tenant stops at once, a demoted user
	// loses the role at once (tokens live 30 minutes).
	// Only evidence about the account makes the token stale: a store that
	// cannot answer is an outage (503), not a reason to log everyone out.
	u, err := s.store.GetUser(ctx, claims.Subject)
	if err = account(err, err == nil && u.IsActive && u.TenantID == claims.TenantID, errStale); err != nil {
		return nil, err
	}
	t, err := s.store.GetTenant(ctx, u.TenantID)
	if err = account(err, err == nil && t.IsActive, errStale); err != nil {
		return nil, err
	}
	// A session ended by logout, refresh-token reuse or a password change
	// ends its access tokens too, here as at the gateway.
	if claims.SessionID != "" {
		revoked, err := s.store.SessionRevoked(ctx, claims.SessionID)
		if err != nil {
			return nil, fmt.Errorf("look up the session: %w", err)
		}
		if revoked {
			return nil, ErrSessionEnded
		}
	}
	claims.Roles = []string{string(u.Role)}
	return claims, nil
}

// ErrSessionEnded refuses an access token whose session has ended.
var ErrSessionEnded = fault.Errorf(fault.Unauthorized, "The session of this access token has ended (logout or password change); log in again.")

var errStale = fault.Errorf(fault.Unauthorized, "The account behind this access token is no longer active; log in again.")

// account turns the outcome of looking up the account behind a credential
// into the error to answer: refused when the account was not found or is not
// in good standing (active), the store's own error when it failed to answer
// (an outage, 503), nil when all is well.
func account(err error, active bool, refused error) error {
	switch {
	case fault.Is(err, fault.NotFound):
		return refused
	case err != nil:
		return fmt.Errorf("look up the account: %w", err)
	case !active:
		return refused
	}
	return nil
}

func (s *Service) publicKey(kid string) (ed25519.PublicKey, bool) {
	ring := s.ring.Load()
	if ring == nil {
		return nil, false
	}
	k, ok := ring.public[kid]
	return k, ok
}

// JWKS returns the public keys that verify current tokens.
func (s *Service) JWKS() auth.JWKS {
	if ring := s.ring.Load(); ring != nil {
		return ring.jwks
	}
	return auth.JWKS{Keys: []auth.JWK{}}
}

// IdentityOf returns the identity of verified claims, with the tenant's
// enabled services.
func (s *Service) IdentityOf(ctx context.Context, c *auth.Claims) (*Identity, error) {
	tenant, err := s.store.GetTenant(ctx, c.TenantID)
	if err = account(err, err == nil && tenant.IsActive, errBadToken); err != nil {
		return nil, err
	}
	return &Identity{UserID: c.Subject, Username: c.Username, TenantID: tenant.ID, TenantName: tenant.Name,
		Roles: nonNil(c.Roles), Scopes: nonNil(c.Scopes), EnabledServices: nonNil(tenant.EnabledServices), SessionID: c.SessionID,
		TenantRateLimit: tenant.RateLimit}, nil
}

var errBadKey = fault.Errorf(fault.Unauthorized, "The API key is invalid, expired or revoked.")

// VerifyAPIKey returns the identity an API key speaks for: its tenant, its
// scopes, and its user's role when the key belongs to a user. Its last use
// is recorded in memory and flushed by FlushKeyUse, not written per call.
func (s *Service) VerifyAPIKey(ctx context.Context, key string) (*Identity, error) {
	_, hash, ok := auth.ParseAPIKey(key)
	if !ok {
		return nil, errBadKey
	}
	k, err := s.store.GetAPIKeyByHash(ctx, hash)
	if fault.Is(err, fault.NotFound) {
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !k.Usable(now) {
		return nil, errBadKey
	}
	tenant, err := s.store.GetTenant(ctx, k.TenantID)
	if err = account(err, err == nil && tenant.IsActive, errBadKey); err != nil {
		return nil, err
	}
	id := &Identity{TenantID: tenant.ID, TenantName: tenant.Name, Roles: []string{}, Scopes: nonNil(k.Scopes),
		EnabledServices: nonNil(tenant.EnabledServices), APIKeyID: k.ID, KeyID: k.ID, ExpiresAt: k.ExpiresAt,
		TenantRateLimit: tenant.RateLimit, APIKeyRateLimit: k.RateLimit}
	if k.UserID != "" {
		user, err := s.store.GetUser(ctx, k.UserID)
		if err = account(err, err == nil && user.IsActive, errBadKey); err != nil {
			return nil, err
		}
		id.UserID, id.Username, id.Roles = user.ID, user.Username, []string{string(user.Role)}
	}
	s.usedMu.Lock()
	s.lastUsed[k.ID] = now
	s.usedMu.Unlock()
	return id, nil
}

// FlushKeyUse writes the API keys' last-use times gathered since the last
// flush, in one batch.
func (s *Service) FlushKeyUse(ctx context.Context) error {
	s.usedMu.Lock()
	batch := s.lastUsed
	s.lastUsed = map[string]time.Time{}
	s.usedMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return s.store.TouchAPIKeys(ctx, batch)
}

// Run rotates keys and flushes API-key use until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = s.FlushKeyUse(fctx)
			cancel()
			return
		case <-t.C:
			if err := s.FlushKeyUse(ctx); err != nil {
				s.logger.Warn("could not record API key use", slog.Any("error", err))
			}
			if err := s.RotateKeys(ctx); err != nil {
				s.logger.Warn("could not rotate signing keys", slog.Any("error", err))
			}
		}
	}
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
