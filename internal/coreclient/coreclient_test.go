package coreclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/testenv"
)

// core answers /api/auth/verify: key "good" is tenant t1's, others are
// refused; down makes it answer 503; block holds answers until closed.
type core struct {
	*httptest.Server
	calls atomic.Int64
	down  atomic.Bool
	block chan struct{}
}

func newCore(t *testing.T) *core {
	c := &core{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		if c.block != nil {
			<-c.block
		}
		switch {
		case c.down.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.Header.Get("X-API-Key") == "good" || r.Header.Get("Authorization") == "Bearer tok":
			json.NewEncoder(w).Encode(Answer{TenantID: "t1", Scopes: []string{"read"}})
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(c.Close)
	return c
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newClient(c *core, clk *clock, stale time.Duration) *Client[string] {
	return New(Config[string]{Core: c.URL, TTL: 30 * time.Second, StaleIfError: stale, Now: clk.now,
		Convert: func(a *Answer) string { return a.TenantID }})
}

func TestCachesAnswersAndRefusals(t *testing.T) {
	c, clk := newCore(t), &clock{}
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cl := newClient(c, clk, 0)
	ctx := context.Background()
	for range 3 {
		if v, err := cl.Verify(ctx, "", credential.APIKey, "good", time.Time{}); v != "t1" || err != nil {
			t.Fatalf("good key: %q %v", v, err)
		}
		if _, err := cl.Verify(ctx, "", credential.APIKey, "bad", time.Time{}); err != ErrRefused {
			t.Fatalf("bad key: %v", err)
		}
	}
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("core was called %d times, want 2 (one per credential)", n)
	}
	// The same value as another kind is another credential.
	if _, err := cl.Verify(ctx, "", credential.Bearer, "good", time.Time{}); err != ErrRefused || c.calls.Load() != 3 {
		t.Fatalf("bearer good: %v, %d calls", err, c.calls.Load())
	}
	// notAfter ends an accepted answer early; TTL ends the rest.
	cl.Verify(ctx, "", credential.Bearer, "tok", clk.now().Add(time.Second))
	clk.advance(2 * time.Second)
	cl.Verify(ctx, "", credential.Bearer, "tok", time.Time{})
	if n := c.calls.Load(); n != 5 {
		t.Fatalf("a token past notAfter was not asked again: %d calls", n)
	}
	clk.advance(31 * time.Second)
	cl.Verify(ctx, "", credential.APIKey, "good", time.Time{})
	if n := c.calls.Load(); n != 6 {
		t.Fatalf("an answer past TTL was not asked again: %d calls", n)
	}
}

func TestOutage(t *testing.T) {
	c, clk := newCore(t), &clock{}
	ctx := context.Background()
	for _, stale := range []time.Duration{0, 10 * time.Minute} {
		clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		c.down.Store(false)
		cl := newClient(c, clk, stale)
		cl.Verify(ctx, "", credential.APIKey, "good", time.Time{})
		cl.Verify(ctx, "", credential.APIKey, "bad", time.Time{})
		c.down.Store(true)
		clk.advance(time.Minute) // both expired
		v, err := cl.Verify(ctx, "", credential.APIKey, "good", time.Time{})
		if stale == 0 {
			var se *StatusError
			if !asStatus(err, &se) || se.Code != 503 {
				t.Fatalf("no stale: %q %v; want the 503", v, err)
			}
		} else if v != "t1" || err != nil {
			t.Fatalf("stale-if-error: %q %v", v, err)
		}
		// Within Backoff core is not asked; a known refusal holds.
		before := c.calls.Load()
		_, err = cl.Verify(ctx, "", credential.APIKey, "bad", time.Time{})
		if stale == 0 && err != ErrBackingOff || stale > 0 && err != ErrRefused {
			t.Fatalf("stale %v: bad key during the back-off: %v", stale, err)
		}
		if c.calls.Load() != before {
			t.Fatal("core was asked during the back-off")
		}
		c.down.Store(false)
		clk.advance(Backoff)
		if v, err := cl.Verify(ctx, "", credential.APIKey, "good", time.Time{}); v != "t1" || err != nil {
			t.Fatalf("core is back: %q %v", v, err)
		}
	}
}

func asStatus(err error, se **StatusError) bool {
	s, ok := err.(*StatusError)
	*se = s
	return ok
}

func TestConcurrentCallsShareOne(t *testing.T) {
	c, clk := newCore(t), &clock{}
	c.block = make(chan struct{})
	cl := newClient(c, clk, 0)
	var wg sync.WaitGroup
	var started atomic.Int64
	for range 20 {
		wg.Go(func() {
			started.Add(1)
			if v, err := cl.Verify(context.Background(), "", credential.APIKey, "good", time.Time{}); v != "t1" || err != nil {
				t.Errorf("%q %v", v, err)
			}
		})
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return c.calls.Load() > 0 && started.Load() == 20 },
		"the calls never started")
	// From started to waiting on the shared call there is no signal to wait
	// for: give the goroutines time to get there.
	time.Sleep(20 * time.Millisecond)
	close(c.block)
	wg.Wait()
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("core was called %d times, want 1", n)
	}
}

// TestCacheHitDoesNotAllocate keeps jwt_auth's API-key path free of
// allocations once the answer is cached.
func TestCacheHitDoesNotAllocate(t *testing.T) {
	c, clk := newCore(t), &clock{}
	cl := newClient(c, clk, 0)
	ctx := context.Background()
	long := "pb_live_0123456789abcdef_" + strings.Repeat("x", 43) // longer than a stack buffer
	for _, cred := range []string{"good", long} {
		cl.Verify(ctx, "", credential.APIKey, cred, time.Time{})
		if n := testing.AllocsPerRun(100, func() { cl.Verify(ctx, "", credential.APIKey, cred, time.Time{}) }); n != 0 {
			t.Fatalf("a cache hit for a %d-byte credential allocates %v times", len(cred), n)
		}
	}
}

// TestNeverPastExpiresAt performs a key used past its expiry: core said
// it expires in 10s, and neither the TTL nor stale_if_error may keep its
// answer longer.
func TestNeverPastExpiresAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var calls atomic.Int64
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		exp := t0.Add(10 * time.Second)
		json.NewEncoder(w).Encode(Answer{TenantID: "t1", KeyID: "k1", ExpiresAt: &exp})
	}))
	t.Cleanup(srv.Close)
	clk := &clock{}
	clk.ns.Store(t0.UnixNano())
	cl := New(Config[string]{Core: srv.URL, TTL: time.Minute, StaleIfError: time.Hour, Now: clk.now,
		Convert: func(a *Answer) string { return a.KeyID }})
	ctx := context.Background()
	if v, err := cl.Verify(ctx, "", credential.APIKey, "key", time.Time{}); err != nil || v != "k1" {
		t.Fatalf("first: %q %v", v, err)
	}
	clk.advance(9 * time.Second)
	cl.Verify(ctx, "", credential.APIKey, "key", time.Time{})
	if n := calls.Load(); n != 1 {
		t.Fatalf("core asked %d times within the expiry, want 1", n)
	}
	clk.advance(2 * time.Second)
	down.Store(true)
	if _, err := cl.Verify(ctx, "", credential.APIKey, "key", time.Time{}); err == nil {
		t.Fatal("an expired key's answer was used stale while core was down")
	}
}

// TestPurge drops matching answers, refusals included when asked, and an
// answer fetched across a purge is not cached.
func TestPurge(t *testing.T) {
	c, clk := newCore(t), &clock{}
	cl := newClient(c, clk, 0)
	ctx := context.Background()
	cl.Verify(ctx, "", credential.APIKey, "good", time.Time{})
	cl.Verify(ctx, "", credential.APIKey, "bad", time.Time{})
	cl.Purge(func(v string, refused bool) bool { return v == "t2" })
	cl.Verify(ctx, "", credential.APIKey, "good", time.Time{})
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("a purge of another tenant dropped answers: %d calls", n)
	}
	cl.Purge(func(v string, refused bool) bool { return v == "t1" || refused })
	cl.Verify(ctx, "", credential.APIKey, "good", time.Time{})
	cl.Verify(ctx, "", credential.APIKey, "bad", time.Time{})
	if n := c.calls.Load(); n != 4 {
		t.Fatalf("calls %d after the purge, want 4", n)
	}
	// A purge while core is being asked: the answer is not cached.
	c.block = make(chan struct{})
	done := make(chan struct{})
	go func() { cl.Verify(ctx, "", credential.APIKey, "new", time.Time{}); close(done) }()
	testenv.Eventually(t, 5*time.Second, func() bool { return c.calls.Load() == 5 }, "core never asked")
	cl.Purge(func(string, bool) bool { return true })
	close(c.block)
	<-done
	c.block = nil
	cl.Verify(ctx, "", credential.APIKey, "new", time.Time{})
	if n := c.calls.Load(); n != 6 {
		t.Errorf("an answer fetched across a purge was cached: %d calls, want 6", n)
	}
}
