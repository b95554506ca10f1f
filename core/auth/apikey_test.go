package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/core/auth"
)

func TestAPIKey(t *testing.T) {
	t.Parallel()
	key, prefix, hash, err := auth.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^pb_live_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$`).MatchString(key) {
		t.Fatalf("key %q has the wrong form", key)
	}
	if !strings.HasPrefix(key, "pb_live_"+prefix+"_") {
		t.Errorf("prefix %q is not the key's", prefix)
	}
	sum := sha256.Sum256([]byte(key))
	if hash != hex.EncodeToString(sum[:]) || hash != auth.HashToken(key) {
		t.Errorf("hash %q is not the hex SHA-256 of the key", hash)
	}
	key2, prefix2, _, _ := auth.NewAPIKey()
	if key2 == key || prefix2 == prefix {
		t.Error("keys or prefixes repeat")
	}

	p, h, ok := auth.ParseAPIKey(key)
	if !ok || p != prefix || h != hash {
		t.Errorf("ParseAPIKey = %q, %q, %v", p, h, ok)
	}
	secret := key[len("pb_live_12345678_"):]
	for _, tc := range []string{
		"",
		"pb_live_",
		"Bearer " + key,
		key + "x",
		key[:len(key)-1],
		strings.Replace(key, "pb_live_", "pb_test_", 1),
		"pb_live_ABCDEF12_" + secret,
		"pb_live_1234567g_" + secret,
		"pb_live_12345678-" + secret,
		"pb_live_12345678_" + secret[:42] + "=",
		"pb_live_12345678_" + secret[:42] + " ",
		" " + key,
	} {
		t.Run(tc, func(t *testing.T) {
			if p, h, ok := auth.ParseAPIKey(tc); ok || p != "" || h != "" {
				t.Errorf("ParseAPIKey(%q) = %q, %q, %v", tc, p, h, ok)
			}
		})
	}
}

func TestOpaqueToken(t *testing.T) {
	t.Parallel()
	tok, hash, err := auth.NewOpaqueToken("pbrt")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^pbrt_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Errorf("token %q has the wrong form", tok)
	}
	if hash != auth.HashToken(tok) || len(hash) != 64 {
		t.Errorf("hash %q", hash)
	}
	if tok2, _, _ := auth.NewOpaqueToken("pbrt"); tok2 == tok {
		t.Error("tokens repeat")
	}
	for _, kind := range []string{"", "PBRT", "pb_rt", "pb-rt", "a b", strings.Repeat("a", 17)} {
		t.Run(kind, func(t *testing.T) {
			if tok, _, err := auth.NewOpaqueToken(kind); err == nil {
				t.Errorf("NewOpaqueToken(%q) = %q", kind, tok)
			}
		})
	}
	if auth.HashToken("a") == auth.HashToken("b") {
		t.Error("HashToken collides")
	}
}
