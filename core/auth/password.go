package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/plugboard/plugboard/internal/fault"
)

// PasswordCost is the bcrypt cost of HashPassword (about 250 ms on one core
// of the reference machine).
const PasswordCost = 12

// Password length bounds, in bytes. bcrypt ignores anything past 72 bytes,
// so longer passwords are refused rather than silently truncated.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// ValidatePassword reports whether pw is acceptable as a new password. The
// error is a *fault.Error (code invalid) whose message is safe to show.
func ValidatePassword(pw string) error {
	if n := len(pw); n < MinPasswordLen || n > MaxPasswordLen {
		return fault.InvalidFields(fmt.Sprintf("The password must be %d to %d bytes long.", MinPasswordLen, MaxPasswordLen), map[string]string{
			"password": fmt.Sprintf("must be %d to %d bytes long", MinPasswordLen, MaxPasswordLen),
		})
	}
	return nil
}

// HashPassword returns the bcrypt hash of pw at PasswordCost. It fails for
// a password over MaxPasswordLen bytes; call ValidatePassword first to give
// users a proper message.
func HashPassword(pw string) (string, error) {
	return HashPasswordCost(pw, PasswordCost)
}

// HashPasswordCost is HashPassword at the given bcrypt cost; tests use
// bcrypt.MinCost to stay fast.
func HashPasswordCost(pw string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches the bcrypt hash. A malformed
// hash never matches. Its cost is that of the hash, so checking against a
// dummy hash of the same cost hides whether a user exists.
func CheckPassword(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}
