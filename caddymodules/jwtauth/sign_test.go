package jwtauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"
)

func TestSign(t *testing.T) {
	secret := []byte("k")
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("GET\n/api/orders/items/1\nu1\nt1\nuser,ops\nread\n1772366400"))
	want := hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, "GET", "/api/orders/items/1", "u1", "t1", "user,ops", "read", "1772366400"); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	// The separator keeps fields apart.
	if Sign(secret, "GET", "/a", "u1", "t1", "", "", "1") == Sign(secret, "GET", "/a", "u", "1t1", "", "", "1") {
		t.Error("moving a character between fields keeps the signature")
	}
}

func TestCheckSignature(t *testing.T) {
	secret := []byte("k")
	now := time.Unix(1772366400, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, "GET", "/p", "u", "t", "r", "s", ts)
	for _, tc := range []struct {
		name                                               string
		secret                                             []byte
		sig, method, path, user, tenant, roles, scopes, ts string
		at                                                 time.Time
		want                                               bool
	}{
		{"valid", secret, sig, "GET", "/p", "u", "t", "r", "s", ts, now, true},
		{"valid, 59s later", secret, sig, "GET", "/p", "u", "t", "r", "s", ts, now.Add(59 * time.Second), true},
		{"too old", secret, sig, "GET", "/p", "u", "t", "r", "s", ts, now.Add(61 * time.Second), false},
		{"from the future", secret, sig, "GET", "/p", "u", "t", "r", "s", ts, now.Add(-61 * time.Second), false},
		{"other secret", []byte("x"), sig, "GET", "/p", "u", "t", "r", "s", ts, now, false},
		{"other method", secret, sig, "POST", "/p", "u", "t", "r", "s", ts, now, false},
		{"other path", secret, sig, "GET", "/q", "u", "t", "r", "s", ts, now, false},
		{"other user", secret, sig, "GET", "/p", "v", "t", "r", "s", ts, now, false},
		{"other tenant", secret, sig, "GET", "/p", "u", "x", "r", "s", ts, now, false},
		{"other roles", secret, sig, "GET", "/p", "u", "t", "super_admin", "s", ts, now, false},
		{"other scopes", secret, sig, "GET", "/p", "u", "t", "r", "x", ts, now, false},
		{"bad timestamp", secret, sig, "GET", "/p", "u", "t", "r", "s", "soon", now, false},
		{"upper-case hex", secret, strUpper(sig), "GET", "/p", "u", "t", "r", "s", ts, now, false},
		{"empty signature", secret, "", "GET", "/p", "u", "t", "r", "s", ts, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckSignature(tc.secret, tc.sig, tc.method, tc.path, tc.user, tc.tenant, tc.roles, tc.scopes, tc.ts, tc.at, time.Minute); got != tc.want {
				t.Errorf("CheckSignature = %v, want %v", got, tc.want)
			}
		})
	}
}

func strUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
