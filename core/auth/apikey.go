package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// API keys look like pb_live_<prefix>_<secret>: the prefix is 8 lower-case
// hex characters, stored in clear and shown in lists to tell keys apart;
// the secret is 43 base64url characters (256 random bits). Only the hash
// of the whole key is stored. Keys are high-entropy, so a fast hash
// (SHA-256) is as safe as bcrypt for them and costs nothing per request.
const (
	apiKeyScheme    = "pb_live_"
	apiKeyPrefixLen = 8
	secretLen       = 43 // base64url of 32 bytes, unpadded
)

// NewAPIKey returns a new API key, its prefix and its hash. Show key to
// the user once; store prefix and hash.
func NewAPIKey() (key, prefix, hash string, err error) {
	p := make([]byte, apiKeyPrefixLen/2)
	if _, err := rand.Read(p); err != nil {
		return "", "", "", fmt.Errorf("read random bytes: %w", err)
	}
	secret, err := randomString(32)
	if err != nil {
		return "", "", "", err
	}
	prefix = hex.EncodeToString(p)
	key = apiKeyScheme + prefix + "_" + secret
	return key, prefix, HashToken(key), nil
}

// ParseAPIKey reports whether key has the form NewAPIKey produces and, if
// so, returns its prefix and hash (the value to look the key up by). It
// does not say whether the key exists.
func ParseAPIKey(key string) (prefix, hash string, ok bool) {
	rest, found := strings.CutPrefix(key, apiKeyScheme)
	if !found || len(rest) != apiKeyPrefixLen+1+secretLen || rest[apiKeyPrefixLen] != '_' {
		return "", "", false
	}
	prefix = rest[:apiKeyPrefixLen]
	for i := range len(prefix) {
		if c := prefix[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", "", false
		}
	}
	if !isBase64URL(rest[apiKeyPrefixLen+1:]) {
		return "", "", false
	}
	return prefix, HashToken(key), true
}

// NewOpaqueToken returns a random token kind_<43 base64url characters>
// (256 bits) and its hash; store only the hash. kind names what the token
// is, e.g. "pbrt" for refresh tokens, and must be 1 to 16 lower-case
// letters or digits.
func NewOpaqueToken(kind string) (token, hash string, err error) {
	if kind == "" || len(kind) > 16 || strings.TrimFunc(kind, func(r rune) bool {
		return 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
	}) != "" {
		return "", "", errors.New("opaque token: kind must be 1 to 16 lower-case letters or digits")
	}
	secret, err := randomString(32)
	if err != nil {
		return "", "", err
	}
	token = kind + "_" + secret
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of an API key or opaque token, the form
// in which they are stored and looked up.
func HashToken(token string) string { return sha256Hex(token) }

func isBase64URL(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
