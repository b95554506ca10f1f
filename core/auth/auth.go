// Package auth issues and verifies Plugboard's credentials: EdDSA-signed
// access tokens (JWT) and their JWKS, bcrypt passwords, API keys and opaque
// refresh tokens.
//
// It is a pure library: no storage, no HTTP server, no clock of its own
// (every time-dependent call takes now). Core uses it to issue credentials
// and the gateway's jwt_auth module uses it to verify access tokens offline
// against core's JWKS. Everything here is safe for concurrent use.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// randomString returns n random bytes, base64url-encoded without padding.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sha256Hex returns the hex SHA-256 of s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
