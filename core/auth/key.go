package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Key is an Ed25519 token signing key. ID is the kid that tokens name in
// their header and the JWKS lists.
type Key struct {
	ID        string
	Private   ed25519.PrivateKey
	Public    ed25519.PublicKey
	CreatedAt time.Time
}

// GenerateKey returns a new signing key with a random, URL-safe, 16
// character kid.
func GenerateKey(now time.Time) (*Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	kid, err := randomString(12)
	if err != nil {
		return nil, err
	}
	return &Key{ID: kid, Private: priv, Public: pub, CreatedAt: now}, nil
}

// MarshalPrivate returns the private key as PKCS#8 DER.
func (k *Key) MarshalPrivate() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("marshal signing key: %w", err)
	}
	return der, nil
}

// ParsePrivateKey returns the key whose PKCS#8 DER MarshalPrivate produced.
// It fails for an empty kid or a key that is not Ed25519.
func ParsePrivateKey(kid string, der []byte, createdAt time.Time) (*Key, error) {
	if kid == "" {
		return nil, errors.New("parse signing key: empty kid")
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse signing key: %T is not an Ed25519 key", k)
	}
	return &Key{ID: kid, Private: priv, Public: priv.Public().(ed25519.PublicKey), CreatedAt: createdAt}, nil
}

// JWK returns the key's public half as a JWK.
func (k *Key) JWK() JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), Kid: k.ID, Alg: "EdDSA", Use: "sig"}
}

// JWK is an Ed25519 public key in JSON Web Key form (RFC 8037).
type JWK struct {
	Kty string `json:"kty"` // always OKP
	Crv string `json:"crv"` // always Ed25519
	X   string `json:"x"`   // the public key, base64url without padding
	Kid string `json:"kid"`
	Alg string `json:"alg"` // always EdDSA
	Use string `json:"use"` // always sig
}

// JWKS is a JSON Web Key Set, as core serves it at /api/auth/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicKeys returns the set's keys by kid. It fails, naming the culprit,
// if any key is not an Ed25519 signing key (kty OKP, crv Ed25519, alg
// EdDSA or absent, use sig or absent), has no kid or a bad x, or if a kid
// repeats.
func (s JWKS) PublicKeys() (map[string]ed25519.PublicKey, error) {
	out := make(map[string]ed25519.PublicKey, len(s.Keys))
	for i, k := range s.Keys {
		switch {
		case k.Kty != "OKP" || k.Crv != "Ed25519":
			return nil, fmt.Errorf("jwks key %d (%q): kty %q crv %q is not OKP Ed25519", i, k.Kid, k.Kty, k.Crv)
		case k.Alg != "" && k.Alg != "EdDSA":
			return nil, fmt.Errorf("jwks key %d (%q): alg %q is not EdDSA", i, k.Kid, k.Alg)
		case k.Use != "" && k.Use != "sig":
			return nil, fmt.Errorf("jwks key %d (%q): use %q is not sig", i, k.Kid, k.Use)
		case k.Kid == "":
			return nil, fmt.Errorf("jwks key %d: no kid", i)
		}
		if _, dup := out[k.Kid]; dup {
			return nil, fmt.Errorf("jwks key %d: kid %q repeats", i, k.Kid)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jwks key %d (%q): x is not a base64url Ed25519 public key", i, k.Kid)
		}
		out[k.Kid] = ed25519.PublicKey(x)
	}
	return out, nil
}
