package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/plugboard/plugboard/core/auth"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustKey(t testing.TB) *auth.Key {
	t.Helper()
	k, err := auth.GenerateKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keysOf(ks ...*auth.Key) func(string) (ed25519.PublicKey, bool) {
	m := map[string]ed25519.PublicKey{}
	for _, k := range ks {
		m[k.ID] = k.Public
	}
	return func(kid string) (ed25519.PublicKey, bool) { k, ok := m[kid]; return k, ok }
}

func baseClaims() auth.Claims {
	return auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "u1"},
		TenantID:         "t1", TenantName: "acme", Username: "ann",
		Roles: []string{"user"}, Scopes: []string{"read"}, SessionID: "s1",
	}
}

// registered returns valid registered claims as Issuer.Sign would set them.
func registered() jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Subject: "u1", Issuer: "plugboard", Audience: jwt.ClaimStrings{"plugboard"},
		IssuedAt: jwt.NewNumericDate(t0), NotBefore: jwt.NewNumericDate(t0),
		ExpiresAt: jwt.NewNumericDate(t0.Add(15 * time.Minute)), ID: "j1",
	}
}

// forge signs claims with any method and key, setting kid unless empty.
func forge(t *testing.T, m jwt.SigningMethod, kid string, c jwt.Claims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("forge %s: %v", m.Alg(), err)
	}
	return s
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	iss := auth.Issuer{Issuer: "plugboard", Audience: "plugboard", TTL: 10 * time.Minute}
	tok, exp, err := iss.Sign(key, baseClaims(), t0.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(10 * time.Minute); !exp.Equal(want) {
		t.Errorf("expires = %v, want %v", exp, want)
	}
	v := auth.Verifier{Issuer: "plugboard", Audience: "plugboard", Keys: keysOf(key)}
	c, err := v.Verify(tok, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Subject != "u1" || c.TenantID != "t1" || c.TenantName != "acme" || c.Username != "ann" || c.SessionID != "s1" ||
		strings.Join(c.Roles, ",") != "user" || strings.Join(c.Scopes, ",") != "read" {
		t.Errorf("claims = %+v", c)
	}
	if c.Issuer != "plugboard" || len(c.Audience) != 1 || c.Audience[0] != "plugboard" || c.ID == "" ||
		!c.IssuedAt.Equal(t0) || !c.NotBefore.Equal(t0) || !c.ExpiresAt.Equal(exp) {
		t.Errorf("registered claims = %+v", c.RegisteredClaims)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &auth.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "EdDSA" || parsed.Header["kid"] != key.ID {
		t.Errorf("header = %v", parsed.Header)
	}
	tok2, _, _ := iss.Sign(key, baseClaims(), t0)
	c2, _ := v.Verify(tok2, t0)
	if c2.ID == c.ID {
		t.Error("jti repeats")
	}

	// Within the leeway either side, and the default TTL.
	if _, err := v.Verify(tok, exp.Add(29*time.Second)); err != nil {
		t.Errorf("within leeway after exp: %v", err)
	}
	if _, err := v.Verify(tok, t0.Add(-29*time.Second)); err != nil {
		t.Errorf("within leeway before nbf: %v", err)
	}
	_, exp, _ = auth.Issuer{Issuer: "i", Audience: "a"}.Sign(key, baseClaims(), t0)
	if !exp.Equal(t0.Add(auth.DefaultTTL)) {
		t.Errorf("default TTL: expires %v", exp)
	}
}

func TestSignRefuses(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	iss := auth.Issuer{Issuer: "plugboard", Audience: "plugboard"}
	noSub, noTenant := baseClaims(), baseClaims()
	noSub.Subject, noTenant.TenantID = "", ""
	for _, tc := range []struct {
		name string
		iss  auth.Issuer
		key  *auth.Key
		c    auth.Claims
	}{
		{"no key", iss, nil, baseClaims()},
		{"no kid", iss, &auth.Key{Private: key.Private}, baseClaims()},
		{"no issuer", auth.Issuer{Audience: "a"}, key, baseClaims()},
		{"no audience", auth.Issuer{Issuer: "i"}, key, baseClaims()},
		{"no subject", iss, key, noSub},
		{"no tenant", iss, key, noTenant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := tc.iss.Sign(tc.key, tc.c, t0); err == nil {
				t.Error("Sign succeeded")
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	key, other := mustKey(t), mustKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(edit func(c *auth.Claims)) auth.Claims {
		c := baseClaims()
		c.RegisteredClaims = registered()
		if edit != nil {
			edit(&c)
		}
		return c
	}
	ed := func(c auth.Claims) string { return forge(t, jwt.SigningMethodEdDSA, key.ID, c, key.Private) }
	good := ed(claims(nil))
	parts := strings.Split(good, ".")

	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", auth.ErrMalformed},
		{"garbage", "not-a-jwt", auth.ErrMalformed},
		{"two segments", parts[0] + "." + parts[1], auth.ErrMalformed},
		{"bad base64 claims", parts[0] + ".!!!." + parts[2], auth.ErrMalformed},
		{"alg none", forge(t, jwt.SigningMethodNone, key.ID, claims(nil), jwt.UnsafeAllowNoneSignatureType), auth.ErrAlgorithm},
		{"alg none, no signature", strings.Join([]string{b64(`{"alg":"none","kid":"` + key.ID + `"}`), parts[1], ""}, "."), auth.ErrAlgorithm},
		{"alg missing", strings.Join([]string{b64(`{"kid":"` + key.ID + `"}`), parts[1], parts[2]}, "."), auth.ErrAlgorithm},
		{"alg unknown", strings.Join([]string{b64(`{"alg":"XX99","kid":"` + key.ID + `"}`), parts[1], parts[2]}, "."), auth.ErrAlgorithm},
		{"HS256 with the public key as secret", forge(t, jwt.SigningMethodHS256, key.ID, claims(nil), []byte(key.Public)), auth.ErrAlgorithm},
		{"HS256 with the base64 public key as secret", forge(t, jwt.SigningMethodHS256, key.ID, claims(nil), []byte(key.JWK().X)), auth.ErrAlgorithm},
		{"RS256", forge(t, jwt.SigningMethodRS256, key.ID, claims(nil), rsaKey), auth.ErrAlgorithm},
		{"ES256", forge(t, jwt.SigningMethodES256, key.ID, claims(nil), ecKey), auth.ErrAlgorithm},
		{"no kid", forge(t, jwt.SigningMethodEdDSA, "", claims(nil), key.Private), auth.ErrUnknownKey},
		{"unknown kid", forge(t, jwt.SigningMethodEdDSA, "nope", claims(nil), key.Private), auth.ErrUnknownKey},
		{"signed by another key under our kid", forge(t, jwt.SigningMethodEdDSA, key.ID, claims(nil), other.Private), auth.ErrSignature},
		{"tampered claims", parts[0] + "." + b64(`{"sub":"admin","tid":"t1","iss":"plugboard","aud":"plugboard","exp":9999999999}`) + "." + parts[2], auth.ErrSignature},
		{"expired", ed(claims(func(c *auth.Claims) {
			c.IssuedAt = jwt.NewNumericDate(t0.Add(-time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(t0.Add(-31 * time.Second))
		})), auth.ErrExpired},
		{"not yet valid", ed(claims(func(c *auth.Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(31 * time.Second)) })), auth.ErrNotYetValid},
		{"issued in the future", ed(claims(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Minute)) })), auth.ErrNotYetValid},
		{"wrong issuer", ed(claims(func(c *auth.Claims) { c.Issuer = "evil" })), auth.ErrIssuer},
		{"no issuer", ed(claims(func(c *auth.Claims) { c.Issuer = "" })), auth.ErrMalformed},
		{"wrong audience", ed(claims(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"other"} })), auth.ErrAudience},
		{"no audience", ed(claims(func(c *auth.Claims) { c.Audience = nil })), auth.ErrMalformed},
		{"no exp", ed(claims(func(c *auth.Claims) { c.ExpiresAt = nil })), auth.ErrMalformed},
		{"no sub", ed(claims(func(c *auth.Claims) { c.Subject = "" })), auth.ErrMalformed},
		{"no tid", ed(claims(func(c *auth.Claims) { c.TenantID = "" })), auth.ErrMalformed},
		{"roles of the wrong type", strings.Join([]string{parts[0], b64(`{"sub":"u1","tid":"t1","roles":"admin"}`), parts[2]}, "."), auth.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := auth.Verifier{Issuer: "plugboard", Audience: "plugboard", Keys: keysOf(key)}
			c, err := v.Verify(tc.token, t0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tc.want)
			}
			for _, s := range []error{auth.ErrMalformed, auth.ErrAlgorithm, auth.ErrUnknownKey, auth.ErrSignature,
				auth.ErrExpired, auth.ErrNotYetValid, auth.ErrIssuer, auth.ErrAudience} {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
		})
	}
	if _, err := (auth.Verifier{Issuer: "plugboard", Audience: "plugboard", Keys: keysOf(key)}).Verify(good, t0); err != nil {
		t.Fatalf("the control token fails: %v", err)
	}
}

func TestVerifierLeeway(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	tok, exp, err := auth.Issuer{Issuer: "i", Audience: "a", TTL: time.Minute}.Sign(key, baseClaims(), t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		at     time.Time
		want   error
	}{
		{"default, 29s late", 0, exp.Add(29 * time.Second), nil},
		{"default, 31s late", 0, exp.Add(31 * time.Second), auth.ErrExpired},
		{"none, at exp", -1, exp, auth.ErrExpired},
		{"none, 1s early", -1, exp.Add(-time.Second), nil},
		{"5m, 4m late", 5 * time.Minute, exp.Add(4 * time.Minute), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := auth.Verifier{Issuer: "i", Audience: "a", Leeway: tc.leeway, Keys: keysOf(key)}
			if _, err := v.Verify(tok, tc.at); !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := (auth.Verifier{Issuer: "i", Audience: "a"}).Verify(tok, t0); err == nil {
		t.Error("a verifier without keys accepted a token")
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func BenchmarkVerify(b *testing.B) {
	key := mustKey(b)
	tok, _, err := auth.Issuer{Issuer: "plugboard", Audience: "plugboard"}.Sign(key, baseClaims(), t0)
	if err != nil {
		b.Fatal(err)
	}
	v := auth.Verifier{Issuer: "plugboard", Audience: "plugboard", Keys: keysOf(key)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}
