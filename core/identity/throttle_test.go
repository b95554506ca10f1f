package identity

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/testenv"
)

// states are the two ephemeral stores throttling must work on.
var states = []struct {
	name string
	open func(t *testing.T) State
}{
	{"memory", func(t *testing.T) State {
		m := ephemeral.NewMemory()
		t.Cleanup(func() { m.Close() })
		return m
	}},
	{"redis", func(t *testing.T) State {
		url, prefix := testenv.RedisURL(t)
		r, err := ephemeral.OpenRedis(context.Background(), url, prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}},
}

// TestLoginBackoffGrows fails one user's logins from one address on a
// fake clock: the first five fail plainly, then each failure blocks the
// pair for twice as long as the one before (Retry-After 1, 2, 4 … s),
// capped at 15 minutes, while the right password from another address
// still logs in.
func TestLoginBackoffGrows(t *testing.T) {
	t.Parallel()
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t)
			s := newService(t, store, st.open(t), Options{PasswordCost: 4})
			now := time.Now()
			s.now = func() time.Time { return now }
			tn := &core.Tenant{Name: "acme", IsActive: true}
			if err := store.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			hash, _ := auth.HashPasswordCost("right-password", 4)
			if err := store.CreateUser(ctx, &core.User{TenantID: tn.ID, Username: "alice", HashedPassword: hash, Role: core.RoleUser, IsActive: true}); err != nil {
				t.Fatal(err)
			}
			const attacker = "203.0.113.7:4711"
			for i := range 5 {
				if _, _, err := s.Login(ctx, "acme", "alice", "wrong", attacker); !fault.Is(err, fault.Unauthorized) {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			want := 1
			for range 12 {
				_, _, err := s.Login(ctx, "acme", "alice", "right-password", attacker)
				got, ok := RetryAfter(err)
				if !fault.Is(err, fault.RateLimited) || !ok || got != want {
					t.Fatalf("blocked pair: %v, Retry-After %d, want %d", err, got, want)
				}
				now = now.Add(time.Duration(want) * time.Second)
				if _, _, err := s.Login(ctx, "acme", "alice", "wrong", attacker); !fault.Is(err, fault.Unauthorized) {
					t.Fatalf("after the %d s block: %v", want, err)
				}
				want = min(want*2, 900)
			}
			if want != 900 {
				t.Fatalf("the backoff reached %d s, want the 900 s cap", want)
			}
			if _, _, err := s.Login(ctx, "acme", "alice", "right-password", "198.51.100.9:1"); err != nil {
				t.Fatalf("the user from another address: %v", err)
			}
			// The pair stays blocked (one address's success does not clear another's).
			if _, _, err := s.Login(ctx, "acme", "ALICE", "right-password", attacker); !fault.Is(err, fault.RateLimited) {
				t.Fatalf("the attacker's address after the user's login: %v", err)
			}
		})
	}
}

// TestParallelGuessesAreCounted fires 50 wrong passwords for one user
// from one address at once: the attempts of a pair are checked one at a
// time, so no more than the 5 allowed failures (plus a couple, should the
// burst outlast the first 1 s and 2 s blocks on a slow machine) ever reach
// the password check; the rest are 429.
func TestParallelGuessesAreCounted(t *testing.T) {
	t.Parallel()
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t)
			s := newService(t, store, st.open(t), Options{PasswordCost: 4})
			var mu sync.Mutex
			codes := map[string]int{}
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, err := s.Login(ctx, "acme", "alice", "wrong", "203.0.113.7:1")
					mu.Lock()
					codes[fault.Code(err)]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if codes[fault.Unauthorized] > 7 || codes[fault.Unauthorized]+codes[fault.RateLimited] != 50 {
				t.Fatalf("outcomes %v: more guesses were checked than the throttle allows", codes)
			}
			// Replicas of one service starting together log in with the
			// same account from the same host at once: they queue, all in.
			tn := &core.Tenant{Name: "ops", IsActive: true}
			if err := store.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			hash, _ := auth.HashPasswordCost("right-password", 4)
			if err := store.CreateUser(ctx, &core.User{TenantID: tn.ID, Username: "svc", HashedPassword: hash, Role: core.RoleUser, IsActive: true}); err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 8)
			for range 8 {
				go func() {
					_, _, err := s.Login(ctx, "ops", "svc", "right-password", "192.0.2.5:1")
					errs <- err
				}()
			}
			for range 8 {
				if err := <-errs; err != nil {
					t.Fatalf("a concurrent login with the right password: %v", err)
				}
			}
		})
	}
}

func TestAddressKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1:80", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an ip", "not an ip"},
	} {
		if got := addressKey(tc.in); got != tc.want {
			t.Errorf("addressKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
