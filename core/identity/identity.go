// Package identity is core's credential service: it keeps the token signing
// keys (creating and rotating them), logs users in with brute-force
// throttling, issues access tokens and rotating refresh tokens, detects
// refresh-token reuse, and verifies access tokens and API keys. HTTP lives
// in core/httpapi; the rules of tokens and keys in core/auth.
package identity

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/registry"
)

// Store is the part of the core store the identity service uses.
type Store interface {
	core.KeyStore
	core.SessionStore
	GetTenant(ctx context.Context, id string) (*core.Tenant, error)
	GetTenantByName(ctx context.Context, name string) (*core.Tenant, error)
	GetUser(ctx context.Context, id string) (*core.User, error)
	GetUserByUsername(ctx context.Context, tenantID, username string) (*core.User, error)
	RecordLogin(ctx context.Context, id string, t time.Time) error
	GetAPIKeyByHash(ctx context.Context, keyHash string) (*core.APIKey, error)
	TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error
}

// State is the part of the ephemeral store the service uses (throttling).
type State interface {
	ephemeral.Counter
	ephemeral.KV
}

// Options configure the service. Zero fields take the defaults in brackets.
type Options struct {
	Issuer     string        // the tokens' iss ["plugboard"]
	Audience   string        // the tokens' aud ["plugboard"]
	AccessTTL  time.Duration // [30m]
	RefreshTTL time.Duration // [7 days]
	// KeyLifetime is how long one key signs before the next takes over [30 days].
	KeyLifetime time.Duration
	// Sealer encrypts private keys at rest; nil stores them unencrypted.
	Sealer *Sealer
	// Throttling of failed logins (see Login). BackoffAfter failures of
	// one user from one address start a backoff of 1 s that doubles with
	// each further failure, up to MaxBackoff. MaxFailuresPerAddr failures
	// from one address (any users), or MaxFailuresPerUser failures of one
	// user (any addresses, refused only from addresses the user has not
	// logged in from within KnownAddressTTL), within FailureWindow refuse
	// logins for FailureWindow.
	BackoffAfter       int           // [5]
	MaxBackoff         time.Duration // [15m]
	MaxFailuresPerUser int           // [100]
	MaxFailuresPerAddr int           // [20]
	FailureWindow      time.Duration // [15m]
	KnownAddressTTL    time.Duration // [30 days]
	// PasswordCost is the bcrypt cost of password hashes [12].
	PasswordCost int
}

// Tokens is what a login or a refresh returns.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Identity is who a verified credential speaks for.
type Identity struct {
	UserID          string   `json:"user_id"`
	Username        string   `json:"username"`
	TenantID        string   `json:"tenant_id"`
	TenantName      string   `json:"tenant_name"`
	Roles           []string `json:"roles"`
	Scopes          []string `json:"scopes"`
	EnabledServices []string `json:"enabled_services"`
	// SessionID is the login session of an access token ("" for API keys).
	SessionID string `json:"-"`
	// APIKeyID is set when the credential is an API key.
	APIKeyID string `json:"api_key_id,omitempty"`
	// TenantRateLimit and APIKeyRateLimit are the tenant's and the API
	// key's quotas (absent: none), which the gateways enforce.
	TenantRateLimit *registry.RateLimit `json:"tenant_rate_limit,omitempty"`
	APIKeyRateLimit *registry.RateLimit `json:"api_key_rate_limit,omitempty"`
	// KeyID is APIKeyID again, under the name core's change feed uses
	// (corefeed.Event.KeyID), so that a gateway matches apikey.revoked
	// events to its cached answers.
	KeyID string `json:"key_id,omitempty"`
	// ExpiresAt is when the API key expires (nil: never), so that no
	// cache keeps the answer past it.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Service is the identity service. It is safe for concurrent use.
type Service struct {
	store  Store
	state  State
	logger *slog.Logger
	opt    Options
	now    func() time.Time
	issuer auth.Issuer

	ring     atomic.Pointer[keyring]
	reloadMu sync.Mutex
	lastLoad atomic.Int64
	usedMu   sync.Mutex
	lastUsed map[string]time.Time // API key ID → last use, not yet flushed
	// dummyHash is checked against when a login names no such user, so
	// that the answer takes as long as a wrong password's.
	dummyHash string
}

// keyring is the set of usable keys at one moment.
type keyring struct {
	signer    *auth.Key
	signUntil time.Time // when signer stops signing
	public    map[string]ed25519.PublicKey
	jwks      auth.JWKS
}

// New returns a service with a current signing key (creating one when the
// store has none that may sign).
func New(ctx context.Context, store Store, state State, logger *slog.Logger, opt Options) (*Service, error) {
	if opt.Issuer == "" {
		opt.Issuer = "plugboard"
	}
	if opt.Audience == "" {
		opt.Audience = "plugboard"
	}
	if opt.AccessTTL <= 0 {
		opt.AccessTTL = 30 * time.Minute
	}
	if opt.RefreshTTL <= 0 {
		opt.RefreshTTL = 7 * 24 * time.Hour
	}
	if opt.KeyLifetime <= 0 {
		opt.KeyLifetime = 30 * 24 * time.Hour
	}
	if opt.BackoffAfter <= 0 {
		opt.BackoffAfter = 5
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 15 * time.Minute
	}
	if opt.MaxFailuresPerUser <= 0 {
		opt.MaxFailuresPerUser = 100
	}
	if opt.KnownAddressTTL <= 0 {
		opt.KnownAddressTTL = 30 * 24 * time.Hour
	}
	if opt.MaxFailuresPerAddr <= 0 {
		opt.MaxFailuresPerAddr = 20
	}
	if opt.FailureWindow <= 0 {
		opt.FailureWindow = 15 * time.Minute
	}
	if opt.PasswordCost <= 0 {
		opt.PasswordCost = 12
	}
	s := &Service{store: store, state: state, logger: logger, opt: opt, now: time.Now,
		issuer:   auth.Issuer{Issuer: opt.Issuer, Audience: opt.Audience, TTL: opt.AccessTTL},
		lastUsed: map[string]time.Time{}}
	var err error
	if s.dummyHash, err = auth.HashPasswordCost("not a password of anyone", s.opt.PasswordCost); err != nil {
		return nil, fmt.Errorf("prepare password checks: %w", err)
	}
	if err := s.sealStoredKeys(ctx); err != nil {
		return nil, err
	}
	if err := s.RotateKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// sealStoredKeys seals every signing key an earlier version stored
// unsealed (retired ones included), so that the database alone never
// holds a usable private key. Several replicas may run it at once.
func (s *Service) sealStoredKeys(ctx context.Context) error {
	if s.opt.Sealer == nil {
		return nil
	}
	keys, err := s.store.ListSigningKeys(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	sealed := 0
	for _, k := range keys {
		if Sealed(k.PrivateKey) {
			continue
		}
		der, err := s.opt.Sealer.Open(k.PrivateKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		to, err := s.opt.Sealer.Seal(der)
		if err != nil {
			return fmt.Errorf("seal signing key %s: %w", k.ID, err)
		}
		switch err := s.store.ReplaceSigningKeyPrivate(ctx, k.ID, k.PrivateKey, to); {
		case err == nil:
			sealed++
		case fault.Is(err, fault.NotFound): // another replica sealed it
		default:
			return fmt.Errorf("seal signing key %s: %w", k.ID, err)
		}
	}
	if sealed > 0 {
		s.logger.Info("sealed token signing keys stored unencrypted", slog.Int("keys", sealed))
	}
	return nil
}

// RotateKeys loads the keys and creates a new signing key when none may
// sign any more (or the current one is within a tenth of its lifetime of
// its end). Call it now and then; several replicas may, harmlessly.
func (s *Service) RotateKeys(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	now := s.now().UTC()
	ring, err := s.load(ctx, now)
	if err != nil {
		return err
	}
	if ring.signer == nil || ring.signUntil.Before(now.Add(s.opt.KeyLifetime/10)) {
		key, err := auth.GenerateKey(now)
		if err != nil {
			return fmt.Errorf("generate signing key: %w", err)
		}
		der, err := key.MarshalPrivate()
		if err != nil {
			return fmt.Errorf("encode signing key: %w", err)
		}
		sealed, err := s.opt.Sealer.Seal(der)
		if err != nil {
			return err
		}
		signUntil := now.Add(s.opt.KeyLifetime)
		if err := s.store.CreateSigningKey(ctx, &core.SigningKey{
			ID: key.ID, Algorithm: "EdDSA", PrivateKey: sealed,
			PublicKey: base64.StdEncoding.EncodeToString(key.Public),
			CreatedAt: now, SignUntil: signUntil, RetireAt: signUntil.Add(s.opt.AccessTTL + time.Minute),
		}); err != nil {
			return fmt.Errorf("store signing key: %w", err)
		}
		s.logger.Info("created a token signing key", slog.String("kid", key.ID), slog.Time("sign_until", signUntil))
		if ring, err = s.load(ctx, now); err != nil {
			return err
		}
	}
	s.ring.Store(ring)
	s.lastLoad.Store(now.UnixNano())
	return nil
}

// load reads the keys that are not retired at now.
func (s *Service) load(ctx context.Context, now time.Time) (*keyring, error) {
	keys, err := s.store.ListSigningKeys(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	ring := &keyring{public: map[string]ed25519.PublicKey{}, jwks: auth.JWKS{Keys: []auth.JWK{}}}
	for _, k := range keys { // newest first
		der, err := s.opt.Sealer.Open(k.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		key, err := auth.ParsePrivateKey(k.ID, der, k.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		ring.public[k.ID] = key.Public
		ring.jwks.Keys = append(ring.jwks.Keys, key.JWK())
		if ring.signer == nil && !k.CreatedAt.After(now) && k.SignUntil.After(now) {
			ring.signer, ring.signUntil = key, k.SignUntil
		}
	}
	return ring, nil
}
