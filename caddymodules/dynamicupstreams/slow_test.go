package dynamicupstreams_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newSlowBackend(t *testing.T, name string, delay time.Duration) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		time.Sleep(delay)
		w.Write([]byte(name))
	}))
	t.Cleanup(b.Close)
	return b
}

// TestSlowInstanceIsEjected performs issue 12's finding 9: an instance that
// answers, but far slower than its siblings, kept its share of requests
// (0.4 % of them at 5 s for the whole run). It is now ejected for
// eject_for once its response time is above slow_floor and slow_factor
// times the fastest instance's; a service's only instance, slow or not, is
// never ejected.
func TestSlowInstanceIsEjected(t *testing.T) {
	s := startStackEdited(t, func(c string) string {
		return strings.Replace(c, "eject_for 10s", "eject_for 10s\n\t\tslow_floor 50ms", 1)
	})
	fast := newBackend(t, "fast")
	slow := newSlowBackend(t, "slow", 150*time.Millisecond)
	s.register("mixed", fast, "")
	s.register("mixed", slow, "")
	lone := newSlowBackend(t, "lone", 150*time.Millisecond)
	s.register("lone", lone, "")
	eventually(t, 2*time.Second, func() bool { return s.get("/api/mixed/x").status == 200 }, "mixed never routable")
	eventually(t, 2*time.Second, func() bool { return s.get("/api/lone/x").status == 200 }, "lone never routable")

	for i := 0; i < 60 && slow.hits.Load() < 8; i++ {
		if a := s.get("/api/mixed/x"); a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	before := slow.hits.Load()
	for i := range 30 {
		if a := s.get("/api/mixed/x"); a.status != 200 {
			t.Fatalf("request %d after: %d %s", i, a.status, a.body)
		}
	}
	if got := slow.hits.Load() - before; got != 0 {
		t.Errorf("the slow instance got %d of 30 requests after %d measured ones; want 0 (ejected)", got, before)
	}
	for i := range 10 {
		if a := s.get("/api/lone/x"); a.status != 200 {
			t.Fatalf("the only instance, slow, request %d: %d %s", i, a.status, a.body)
		}
	}
	if lone.hits.Load() < 10 {
		t.Errorf("the only instance got %d of 10 requests", lone.hits.Load())
	}
}
