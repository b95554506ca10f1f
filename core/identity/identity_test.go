package identity

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/sqlstore"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/storage"
)

// openStore opens a core store on SQLite in a temporary directory, closed
// when the test ends.
func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), storage.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "core.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// newService makes an identity service on store and state.
func newService(t *testing.T, store *sqlstore.Store, state State, opt Options) *Service {
	t.Helper()
	s, err := New(context.Background(), store, state, slog.New(slog.NewTextHandler(io.Discard, nil)), opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKeysRotateWithoutDowntime moves a fake clock through a signing key's
// life: near its end a new key takes over signing, tokens of the old key
// keep verifying until they have expired, and only then does the old key
// leave the JWKS.
func TestKeysRotateWithoutDowntime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	state := ephemeral.NewMemory()
	defer state.Close()
	now := time.Now().UTC()
	opt := Options{AccessTTL: time.Minute, KeyLifetime: 10 * time.Minute, PasswordCost: 4}
	s := newService(t, store, state, opt)
	s.now = func() time.Time { return now }
	tn := &core.Tenant{Name: "acme", IsActive: true}
	if err := store.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	u := &core.User{TenantID: tn.ID, Username: "alice", HashedPassword: "x", Role: core.RoleUser, IsActive: true}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sign := func() string {
		tok, _, err := s.issuer.Sign(s.ring.Load().signer, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: u.ID}, TenantID: tn.ID}, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := s.ring.Load().signer.ID
	if n := len(s.JWKS().Keys); n != 1 {
		t.Fatalf("%d keys at start", n)
	}
	oldToken := sign()

	now = now.Add(9*time.Minute + 30*time.Second) // within a tenth of the key's end
	if err := s.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	second := s.ring.Load().signer.ID
	if second == first || len(s.JWKS().Keys) != 2 {
		t.Fatalf("no rotation: signer %s → %s, %d keys", first, second, len(s.JWKS().Keys))
	}
	if _, err := s.Authenticate(ctx, sign()); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	// The old key's token (signed 9.5 min ago, 1 min TTL) has expired by
	// now; one signed just before the rotation has not.
	now = now.Add(-30 * time.Second)
	s.ring.Load().signer, _ = s.ringKey(first)
	justBefore := sign()
	s.ring.Load().signer, _ = s.ringKey(second)
	now = now.Add(30 * time.Second)
	if _, err := s.Authenticate(ctx, justBefore); err != nil {
		t.Fatalf("a live token of the old key stopped verifying at the rotation: %v", err)
	}
	_ = oldToken

	// After the old key's last token expired, it leaves the JWKS.
	now = now.Add(3 * time.Minute)
	if err := s.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range s.JWKS().Keys {
		if k.Kid == first {
			t.Fatal("the retired key is still published")
		}
	}
}

// ringKey returns the key with kid from the store, for signing in tests.
func (s *Service) ringKey(kid string) (*auth.Key, error) {
	keys, err := s.store.ListSigningKeys(context.Background(), s.now().Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ID == kid {
			der, err := s.opt.Sealer.Open(k.PrivateKey)
			if err != nil {
				return nil, err
			}
			return auth.ParsePrivateKey(k.ID, der, k.CreatedAt)
		}
	}
	return nil, nil
}

func TestSealer(t *testing.T) {
	t.Parallel()
	sealer, err := NewSealer("a master key of some length")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealer.Seal([]byte("private"))
	if err != nil || len(sealed) < 10 || sealed[:7] != "enc:v1:" {
		t.Fatalf("Seal = %q, %v", sealed, err)
	}
	if got, err := sealer.Open(sealed); err != nil || string(got) != "private" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := NewSealer("another master key entirely")
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("a wrong master key opened the sealed key")
	}
	var none *Sealer
	if _, err := none.Open(sealed); err == nil {
		t.Fatal("no master key opened a sealed key")
	}
	plain, _ := none.Seal([]byte("private"))
	if got, err := none.Open(plain); err != nil || string(got) != "private" {
		t.Fatalf("unsealed round trip = %q, %v", got, err)
	}
}
