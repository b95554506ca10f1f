package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/plugboard/plugboard/core/auth"
)

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`).MatchString(k.ID) {
		t.Errorf("kid %q is not 16 URL-safe characters", k.ID)
	}
	if k2 := mustKey(t); k2.ID == k.ID {
		t.Error("kids repeat")
	}
	der, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := auth.ParsePrivateKey(k.ID, der, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || !got.Private.Equal(k.Private) || !got.Public.Equal(k.Public) || !got.CreatedAt.Equal(t0) {
		t.Errorf("round trip = %+v", got)
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for _, tc := range []struct {
		name, kid string
		der       []byte
	}{
		{"no kid", "", der},
		{"garbage", "k", []byte("nope")},
		{"not ed25519", "k", ecDER},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := auth.ParsePrivateKey(tc.kid, tc.der, t0); err == nil {
				t.Error("ParsePrivateKey succeeded")
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	a, b := mustKey(t), mustKey(t)
	set := auth.JWKS{Keys: []auth.JWK{a.JWK(), b.JWK()}}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kty":"OKP","crv":"Ed25519","x":"` + a.JWK().X + `","kid":"` + a.ID + `","alg":"EdDSA","use":"sig"}`
	if !bytes.Contains(body, []byte(want)) {
		t.Errorf("JWKS JSON %s lacks %s", body, want)
	}
	var back auth.JWKS
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	keys, err := back.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[a.ID].Equal(a.Public) || !keys[b.ID].Equal(b.Public) {
		t.Errorf("PublicKeys = %v", keys)
	}
	if keys, err := (auth.JWKS{}).PublicKeys(); err != nil || len(keys) != 0 {
		t.Errorf("empty set: %v, %v", keys, err)
	}
	bare := a.JWK()
	bare.Alg, bare.Use = "", ""
	if _, err := (auth.JWKS{Keys: []auth.JWK{bare}}).PublicKeys(); err != nil {
		t.Errorf("alg and use are optional: %v", err)
	}

	edit := func(f func(k *auth.JWK)) auth.JWK { k := a.JWK(); f(&k); return k }
	for _, tc := range []struct {
		name string
		keys []auth.JWK
	}{
		{"RSA", []auth.JWK{edit(func(k *auth.JWK) { k.Kty = "RSA" })}},
		{"EC", []auth.JWK{edit(func(k *auth.JWK) { k.Kty, k.Crv = "EC", "P-256" })}},
		{"X25519", []auth.JWK{edit(func(k *auth.JWK) { k.Crv = "X25519" })}},
		{"oct", []auth.JWK{edit(func(k *auth.JWK) { k.Kty = "oct" })}},
		{"alg HS256", []auth.JWK{edit(func(k *auth.JWK) { k.Alg = "HS256" })}},
		{"use enc", []auth.JWK{edit(func(k *auth.JWK) { k.Use = "enc" })}},
		{"no kid", []auth.JWK{edit(func(k *auth.JWK) { k.Kid = "" })}},
		{"short x", []auth.JWK{edit(func(k *auth.JWK) { k.X = k.X[:20] })}},
		{"bad x", []auth.JWK{edit(func(k *auth.JWK) { k.X = "!!" + k.X[2:] })}},
		{"repeated kid", []auth.JWK{a.JWK(), edit(func(k *auth.JWK) { k.X = b.JWK().X })}},
		{"one bad among good", []auth.JWK{b.JWK(), edit(func(k *auth.JWK) { k.Kty = "RSA" })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if keys, err := (auth.JWKS{Keys: tc.keys}).PublicKeys(); err == nil {
				t.Errorf("PublicKeys = %v, want an error", keys)
			}
		})
	}
}
