// Package ephemeraltest is the contract suite every ephemeral.Store
// implementation must pass. Each implementation's test calls Run.
package ephemeraltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/testenv"
)

// Run exercises the Store that open returns; open is called once per subtest
// and must return a store with no keys of its own.
func Run(t *testing.T, open func(t *testing.T) ephemeral.Store) {
	ctx := context.Background()

	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, ephemeral.ErrNotFound) {
			t.Fatalf("Get missing key: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("SetGetDelete", func(t *testing.T) {
		s := open(t)
		for _, v := range [][]byte{[]byte("hello"), {0, 1, 2, 255}, []byte("")} {
			if err := s.Set(ctx, "k", v, 0); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "k")
			if err != nil || string(got) != string(v) {
				t.Fatalf("Get = %q, %v; want %q", got, err, v)
			}
		}
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, ephemeral.ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
	})

	t.Run("GetMany", func(t *testing.T) {
		s := open(t)
		_ = s.Set(ctx, "a", []byte("1"), 0)
		_ = s.Set(ctx, "c", []byte("3"), time.Minute)
		got, err := s.GetMany(ctx, []string{"a", "b", "c"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || string(got[0]) != "1" || got[1] != nil || string(got[2]) != "3" {
			t.Fatalf("GetMany = %q", got)
		}
		if got, err := s.GetMany(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("GetMany(nil) = %q, %v", got, err)
		}
	})

	t.Run("SetMany", func(t *testing.T) {
		s := open(t)
		if err := s.SetMany(ctx, map[string][]byte{"x": []byte("1"), "y": []byte("2")}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMany(ctx, nil, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetMany(ctx, []string{"x", "y"})
		if err != nil || string(got[0]) != "1" || string(got[1]) != "2" {
			t.Fatalf("GetMany after SetMany = %q, %v", got, err)
		}
		if err := s.SetMany(ctx, map[string][]byte{"z": []byte("3")}, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 3*time.Second, func() bool {
			_, err := s.Get(ctx, "z")
			return errors.Is(err, ephemeral.ErrNotFound)
		}, "SetMany's TTL was not applied")
	})

	t.Run("TTLExpires", func(t *testing.T) {
		s := open(t)
		if err := s.Set(ctx, "short", []byte("x"), 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "long", []byte("y"), time.Hour); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 3*time.Second, func() bool {
			_, err := s.Get(ctx, "short")
			return errors.Is(err, ephemeral.ErrNotFound)
		}, "key with a 100ms TTL never expired")
		if _, err := s.Get(ctx, "long"); err != nil {
			t.Fatalf("key with a 1h TTL: %v", err)
		}
	})

	t.Run("SetNX", func(t *testing.T) {
		s := open(t)
		ok, err := s.SetNX(ctx, "once", []byte("first"), time.Minute)
		if err != nil || !ok {
			t.Fatalf("first SetNX = %v, %v", ok, err)
		}
		ok, err = s.SetNX(ctx, "once", []byte("second"), time.Minute)
		if err != nil || ok {
			t.Fatalf("second SetNX = %v, %v", ok, err)
		}
		if v, _ := s.Get(ctx, "once"); string(v) != "first" {
			t.Fatalf("value = %q, want first", v)
		}
	})

	t.Run("SetNXConcurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.SetNX(ctx, "race", fmt.Appendf(nil, "%d", i), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("%d SetNX calls won, want exactly 1", winners)
		}
	})

	t.Run("IncrConcurrent", func(t *testing.T) {
		s := open(t)
		const writers, each = 4, 50
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, err := s.Incr(ctx, "hits", time.Minute); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		n, err := s.Incr(ctx, "hits", time.Minute)
		if err != nil || n != writers*each+1 {
			t.Fatalf("Incr after %d concurrent increments = %d, %v", writers*each, n, err)
		}
	})

	t.Run("IncrWindowExpires", func(t *testing.T) {
		s := open(t)
		for range 3 {
			if _, err := s.Incr(ctx, "w", 150*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		testenv.Eventually(t, 3*time.Second, func() bool {
			_, err := s.Get(ctx, "w")
			return errors.Is(err, ephemeral.ErrNotFound)
		}, "counter window never ended")
		if n, err := s.Incr(ctx, "w", time.Minute); err != nil || n != 1 {
			t.Fatalf("Incr in a new window = %d, %v; want 1", n, err)
		}
	})

	t.Run("Lease", func(t *testing.T) {
		s := open(t)
		ok, err := s.Claim(ctx, "leader", "a", time.Minute)
		if err != nil || !ok {
			t.Fatalf("a claims free lease: %v, %v", ok, err)
		}
		if ok, _ := s.Claim(ctx, "leader", "b", time.Minute); ok {
			t.Fatal("b claimed a lease a holds")
		}
		if ok, _ := s.Claim(ctx, "leader", "a", time.Minute); !ok {
			t.Fatal("a could not renew its own lease")
		}
		if err := s.Release(ctx, "leader", "b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Claim(ctx, "leader", "b", time.Minute); ok {
			t.Fatal("b released a lease it did not hold")
		}
		if err := s.Release(ctx, "leader", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Claim(ctx, "leader", "b", 100*time.Millisecond); !ok {
			t.Fatal("b could not claim a released lease")
		}
		testenv.Eventually(t, 3*time.Second, func() bool {
			ok, _ := s.Claim(ctx, "leader", "a", time.Minute)
			return ok
		}, "lease with a 100ms TTL never expired")
	})

	t.Run("PubSub", func(t *testing.T) {
		s := open(t)
		sub1, err := s.Subscribe(ctx, "changes")
		if err != nil {
			t.Fatal(err)
		}
		defer sub1.Close()
		sub2, err := s.Subscribe(ctx, "changes")
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.Subscribe(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		for i := range 5 {
			if err := s.Publish(ctx, "changes", fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, sub := range []ephemeral.Subscription{sub1, sub2} {
			for i := range 5 {
				select {
				case got := <-sub.Messages():
					if want := fmt.Sprintf("m%d", i); string(got) != want {
						t.Fatalf("message %d = %q, want %q", i, got, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("message %d never arrived", i)
				}
			}
		}
		if err := sub2.Close(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 3*time.Second, func() bool {
			_, open := <-sub2.Messages()
			return !open
		}, "Messages not closed after Close")
		select {
		case m := <-other.Messages():
			t.Fatalf("subscriber of another channel got %q", m)
		case <-time.After(50 * time.Millisecond):
		}
	})
}
