package auth_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/fault"
)

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"empty", "", false},
		{"7 bytes", "1234567", false},
		{"8 bytes", "12345678", true},
		{"72 bytes", strings.Repeat("x", 72), true},
		{"73 bytes", strings.Repeat("x", 73), false},
		{"multi-byte, 24 runes in 72 bytes", strings.Repeat("€", 24), true},
		{"multi-byte, 25 runes in 75 bytes", strings.Repeat("€", 25), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := auth.ValidatePassword(tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidatePassword = %v, want ok %v", err, tc.ok)
			}
			if err != nil && (fault.Code(err) != fault.Invalid || fault.Message(err) == "") {
				t.Errorf("error %v is not a user-safe invalid fault", err)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	hash, err := auth.HashPasswordCost("correct horse", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.HashPasswordCost("correct horse", bcrypt.MinCost)
	if hash == other {
		t.Error("hashes of the same password are equal (no salt?)")
	}
	for _, tc := range []struct {
		name, hash, pw string
		want           bool
	}{
		{"right", hash, "correct horse", true},
		{"wrong", hash, "correct horsE", false},
		{"empty password", hash, "", false},
		{"empty hash", "", "correct horse", false},
		{"malformed hash", "$2a$10$short", "correct horse", false},
		{"plain text stored", "correct horse", "correct horse", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.CheckPassword(tc.hash, tc.pw); got != tc.want {
				t.Errorf("CheckPassword = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := auth.HashPasswordCost(strings.Repeat("x", 73), bcrypt.MinCost); err == nil {
		t.Error("a 73-byte password was hashed")
	}
}

func TestHashPasswordCost(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("bcrypt cost 12 takes a while")
	}
	hash, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != 12 {
		t.Errorf("cost = %d, %v", cost, err)
	}
	if !auth.CheckPassword(hash, "correct horse") {
		t.Error("CheckPassword refuses the password")
	}
}
