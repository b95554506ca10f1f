package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Sealer encrypts signing keys at rest with AES-256-GCM under a master key
// (PLUGBOARD_CORE_MASTER_KEY, or the one core generates into its data
// directory). A nil *Sealer stores keys base64-encoded only; core always
// configures one.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the AES key from secret (any length; SHA-256).
func NewSealer(secret string) (*Sealer, error) {
	key := sha256.Sum256([]byte(secret))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

const sealedPrefix = "enc:v1:"

// Sealed reports whether a stored private key is encrypted.
func Sealed(stored string) bool { return strings.HasPrefix(stored, sealedPrefix) }

// Seal returns the stored form of a private key.
func (s *Sealer) Seal(der []byte) (string, error) {
	if s == nil {
		return base64.StdEncoding.EncodeToString(der), nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, der, nil)), nil
}

// Open returns the private key of a stored form.
func (s *Sealer) Open(stored string) ([]byte, error) {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return base64.StdEncoding.DecodeString(stored)
	}
	if s == nil {
		return nil, errors.New("the signing key is encrypted and no master key is configured")
	}
	raw, err := base64.StdEncoding.DecodeString(stored[len(sealedPrefix):])
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, fmt.Errorf("malformed sealed key")
	}
	der, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("cannot decrypt the signing key: wrong master key (PLUGBOARD_CORE_MASTER_KEY, or the core.master.key file in the data directory when it is unset)")
	}
	return der, nil
}
