package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/fault"
)

// race runs fn(0) … fn(n-1) at once and returns their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner fails unless exactly one of errs is nil and all others carry
// code.
func oneWinner(t *testing.T, what string, errs []error, code string) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !fault.Is(err, code):
			t.Fatalf("%s: a loser got %v, want %s", what, err, code)
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d winners, want exactly 1 (errors %v)", what, wins, errs)
	}
}

func testConcurrency(t *testing.T, open func(t *testing.T) core.Store) {
	t.Run("WritersInOneTenant", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		errs := race(2, func(w int) error {
			for i := range 15 {
				u := newUser(tn.ID, fmt.Sprintf("user-%d-%d", w, i))
				if err := s.CreateUser(ctx, u); err != nil {
					return err
				}
				if err := s.RecordLogin(ctx, u.ID, time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 30 {
			t.Fatalf("two writers × 15 users: CountUsers = %d, %v", n, err)
		}
	})

	t.Run("SameTenantName", func(t *testing.T) {
		s := open(t)
		for round := range 5 {
			name := fmt.Sprintf("race-%d", round)
			oneWinner(t, "two CreateTenant "+name, race(2, func(int) error { return s.CreateTenant(ctx, newTenant(name)) }), fault.Conflict)
		}
		if all, _ := s.ListTenants(ctx); len(all) != 5 {
			t.Fatalf("%d tenants, want 5", len(all))
		}
	})

	t.Run("SameUsername", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		for round := range 5 {
			name := fmt.Sprintf("bob-%d", round)
			oneWinner(t, "two CreateUser "+name, race(2, func(i int) error {
				u := newUser(tn.ID, name)
				u.Email = fmt.Sprintf("%s-%d@example.com", name, i)
				return s.CreateUser(ctx, u)
			}), fault.Conflict)
		}
		if n, _ := s.CountUsers(ctx); n != 5 {
			t.Fatalf("%d users, want 5", n)
		}
	})

	// Deleting a tenant while a user is being created in it: either the
	// delete wins and the user is refused, or the user wins and the delete is
	// refused; never a user without a tenant.
	t.Run("DeleteTenantWhileCreatingUser", func(t *testing.T) {
		s := open(t)
		for round := range 10 {
			tn := mustTenant(t, s, fmt.Sprintf("doomed-%d", round))
			errs := race(2, func(i int) error {
				if i == 0 {
					return s.DeleteTenant(ctx, tn.ID)
				}
				return s.CreateUser(ctx, newUser(tn.ID, "late"))
			})
			deleteErr, createErr := errs[0], errs[1]
			switch {
			case deleteErr == nil && fault.Is(createErr, fault.NotFound):
				if _, err := s.GetTenant(ctx, tn.ID); !fault.Is(err, fault.NotFound) {
					t.Fatalf("round %d: delete won but the tenant is there: %v", round, err)
				}
			case createErr == nil && fault.Is(deleteErr, fault.Conflict):
				if _, err := s.GetUserByUsername(ctx, tn.ID, "late"); err != nil {
					t.Fatalf("round %d: create won but the user is missing: %v", round, err)
				}
			default:
				t.Fatalf("round %d: DeleteTenant = %v, CreateUser = %v; want exactly one to win", round, deleteErr, createErr)
			}
		}
	})

	// Deleting a user while keys are created for it must never leave a live
	// key without a user.
	t.Run("DeleteUserWhileCreatingKeys", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		for round := range 5 {
			u := mustUser(t, s, tn.ID, fmt.Sprintf("leaving-%d", round))
			errs := race(2, func(i int) error {
				if i == 0 {
					return s.DeleteUser(ctx, u.ID)
				}
				for j := range 10 {
					k := newKey(tn.ID, fmt.Sprintf("k-%d-%d", round, j))
					k.UserID = u.ID
					if err := s.CreateAPIKey(ctx, k); fault.Is(err, fault.NotFound) {
						return nil // the user is gone
					} else if err != nil {
						return err
					}
				}
				return nil
			})
			for _, err := range errs {
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		}
		keys, err := s.ListAPIKeys(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.UserID == "" && k.RevokedAt == nil {
				t.Fatalf("key %s outlived its user unrevoked", k.Name)
			}
		}
	})

	t.Run("TwoFlushers", func(t *testing.T) {
		s := open(t)
		tn := mustTenant(t, s, "acme")
		var keys []*core.APIKey
		for i := range 20 {
			keys = append(keys, mustKey(t, s, newKey(tn.ID, fmt.Sprintf("k%02d", i))))
		}
		base := time.Now().UTC().Truncate(time.Second)
		errs := race(2, func(w int) error {
			for round := range 5 {
				batch := map[string]time.Time{}
				for _, k := range keys {
					batch[k.ID] = base.Add(time.Duration(round*2+w) * time.Second)
				}
				if err := s.TouchAPIKeys(ctx, batch); err != nil {
					return err
				}
			}
			return nil
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		want := base.Add(9 * time.Second) // round 4, writer 1
		for _, k := range keys {
			got, err := s.GetAPIKey(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameOptTime(t, "last_used of "+k.Name, got.LastUsed, &want)
		}
	})
}
