package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of Issuer and Verifier.
const (
	DefaultTTL    = 15 * time.Minute
	DefaultLeeway = 30 * time.Second
)

// Errors Verify returns, each wrapping the underlying reason; test with
// errors.Is. None of their texts is meant for users.
var (
	ErrMalformed   = errors.New("auth: malformed token")         // not a JWT, bad JSON, or a required claim (iss, aud, exp, sub, tid) missing
	ErrAlgorithm   = errors.New("auth: token algorithm refused") // alg is not EdDSA (none, HS256, RS256, ES256, …)
	ErrUnknownKey  = errors.New("auth: unknown signing key")     // no kid, or a kid that Keys does not know
	ErrSignature   = errors.New("auth: bad token signature")
	ErrExpired     = errors.New("auth: token expired")
	ErrNotYetValid = errors.New("auth: token not yet valid") // nbf or iat in the future
	ErrIssuer      = errors.New("auth: wrong token issuer")
	ErrAudience    = errors.New("auth: wrong token audience")
)

// errMissingClaim is what Claims.Validate reports; Verify turns it into
// ErrMalformed.
var errMissingClaim = errors.New("required claim missing")

// Claims are the claims of a Plugboard access token. Subject is the user's
// id; the registered claims iss, aud, iat, nbf, exp and jti are set by
// Issuer.Sign.
type Claims struct {
	jwt.RegisteredClaims
	TenantID   string   `json:"tid"`
	TenantName string   `json:"tname,omitempty"`
	Username   string   `json:"name,omitempty"`
	Roles      []string `json:"roles"`
	Scopes     []string `json:"scopes,omitempty"`
	// SessionID names the login session (the refresh token family).
	SessionID string `json:"sid,omitempty"`
}

// Validate reports whether the claims name a user and a tenant. The JWT
// library calls it after the registered-claim checks.
func (c Claims) Validate() error {
	switch {
	case c.Subject == "":
		return fmt.Errorf("%w: sub", errMissingClaim)
	case c.TenantID == "":
		return fmt.Errorf("%w: tid", errMissingClaim)
	}
	return nil
}

// Issuer signs access tokens. Its zero TTL means DefaultTTL.
type Issuer struct {
	Issuer, Audience string
	TTL              time.Duration
}

// Sign returns an EdDSA-signed access token for c, with key's kid in its
// header, and when it expires. It sets iss and aud from is, iat and nbf to
// now, exp to now+TTL (whole seconds) and a random jti; c must name a
// subject and a tenant.
func (is Issuer) Sign(key *Key, c Claims, now time.Time) (token string, expires time.Time, err error) {
	switch {
	case key == nil || key.ID == "" || len(key.Private) != ed25519.PrivateKeySize:
		return "", time.Time{}, errors.New("sign token: no usable signing key")
	case is.Issuer == "" || is.Audience == "":
		return "", time.Time{}, errors.New("sign token: issuer and audience are required")
	}
	if err := c.Validate(); err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	ttl := is.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	jti, err := randomString(16)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	now = now.Truncate(time.Second)
	expires = now.Add(ttl)
	c.Issuer = is.Issuer
	c.Audience = jwt.ClaimStrings{is.Audience}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(expires)
	c.ID = jti
	if c.Roles == nil {
		c.Roles = []string{}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = key.ID
	token, err = t.SignedString(key.Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return token, expires, nil
}

// Verifier checks access tokens offline. Keys returns the public key of a
// kid (for example from core's JWKS); it must be safe for concurrent use.
// A zero Leeway means DefaultLeeway, a negative one none.
type Verifier struct {
	Issuer, Audience string
	Leeway           time.Duration
	Keys             func(kid string) (ed25519.PublicKey, bool)
}

// Verify returns the claims of token if, at now, it is an EdDSA JWT signed
// by a key that Keys knows, issued by v.Issuer for v.Audience, not expired
// and already valid (both within Leeway), naming a subject and a tenant.
// Otherwise it returns an error that wraps exactly one of ErrMalformed,
// ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrExpired, ErrNotYetValid,
// ErrIssuer or ErrAudience (checked in that order).
func (v Verifier) Verify(token string, now time.Time) (*Claims, error) {
	if v.Issuer == "" || v.Audience == "" || v.Keys == nil {
		return nil, errors.New("verify token: verifier needs an issuer, an audience and keys")
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	} else if leeway < 0 {
		leeway = 0
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(leeway),
		jwt.WithIssuer(v.Issuer),
		jwt.WithAudience(v.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	c := new(Claims)
	t, err := p.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, fmt.Errorf("%w: no kid", ErrUnknownKey)
		}
		k, ok := v.Keys(kid)
		if !ok {
			return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
		}
		return k, nil
	})
	if err != nil {
		return nil, classify(t, err)
	}
	return c, nil
}

// classify wraps err in the one sentinel that names its first reason.
func classify(t *jwt.Token, err error) error {
	var sentinel error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		sentinel = ErrMalformed
	case t == nil || t.Method == nil || t.Method.Alg() != jwt.SigningMethodEdDSA.Alg():
		sentinel = ErrAlgorithm
	case errors.Is(err, ErrUnknownKey):
		return err
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		sentinel = ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		sentinel = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		sentinel = ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		sentinel = ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		sentinel = ErrAudience
	default: // a missing iss, aud, exp, sub or tid, or a claim of the wrong type
		sentinel = ErrMalformed
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
