package traffic

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestBucketOf(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{100 * time.Microsecond, 0},
		{1<<17 - 1, 0},
		{1 << 17, 1},                // 131 µs: [2^17, 1.5·2^17)
		{3 << 16, 2},                // 196 µs: [1.5·2^17, 2^18)
		{1 << 18, 3},                // 262 µs
		{time.Millisecond, 6},       // 2^19 ≤ 1e6 < 1.5·2^19 → 1+2·2
		{10 * time.Millisecond, 13}, // 2^23 ≤ 1e7 < 1.5·2^23
		{time.Second, 26},           // 2^29 ≤ 1e9 < 1.5·2^29
		{1<<35 - 1, numBuckets - 2},
		{1 << 35, numBuckets - 1},
		{time.Hour, numBuckets - 1},
	} {
		if got := bucketOf(tc.d); got != tc.want {
			t.Errorf("bucketOf(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// Every bucket's bounds hold the durations bucketOf puts in it, and the
// buckets tile the line.
func TestBucketBoundsAgreeWithBucketOf(t *testing.T) {
	prevHi := 0.0
	for i := range numBuckets - 1 {
		lo, hi := bucketBounds(i)
		if lo != prevHi || hi <= lo {
			t.Fatalf("bucket %d = [%v, %v), previous ended at %v", i, lo, hi, prevHi)
		}
		if got := bucketOf(time.Duration(lo)); got != i {
			t.Errorf("bucketOf(lo of %d = %v) = %d", i, lo, got)
		}
		if got := bucketOf(time.Duration(hi) - 1); got != i {
			t.Errorf("bucketOf(hi of %d - 1 = %v) = %d", i, hi-1, got)
		}
		if i > 1 && hi/lo > 1.5+1e-9 {
			t.Errorf("bucket %d spans ×%.3f: not log-spaced finely enough", i, hi/lo)
		}
		prevHi = hi
	}
}

func TestQuantile(t *testing.T) {
	hist := func(ds ...time.Duration) *counts {
		c := new(counts)
		for _, d := range ds {
			c[fBucket0+bucketOf(d)]++
			c[fRequests]++
		}
		return c
	}
	repeat := func(n int, d time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		c        *counts
		q        float64
		want     float64 // ms
		tolerate float64 // relative
	}{
		{"Empty", new(counts), 0.5, 0, 0},
		{"OneValueIsInItsBucket", hist(10 * time.Millisecond), 0.5, 10, 0.25},
		{"AllEqual p99", hist(repeat(100, 2*time.Millisecond)...), 0.99, 2, 0.25},
		{"Median of a spread", hist(append(repeat(50, time.Millisecond), repeat(50, 100*time.Millisecond)...)...), 0.5, 1, 0.5},
		{"p99 sees the tail", hist(append(repeat(98, time.Millisecond), repeat(2, time.Second)...)...), 0.99, 1000, 0.25},
		{"Tiny latencies", hist(repeat(10, 10*time.Microsecond)...), 0.5, 0.0655, 1},
		{"Overflow reports its floor", hist(time.Hour), 0.99, float64(uint64(1)<<35) / 1e6, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.c.quantile(tc.q)
			if tc.want == 0 && got != 0 || tc.want != 0 && math.Abs(got-tc.want)/tc.want > tc.tolerate {
				t.Errorf("quantile(%v) = %v ms, want %v ± %v%%", tc.q, got, tc.want, tc.tolerate*100)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 30, 20, 0, time.UTC)
	for _, tc := range []struct {
		window time.Duration
		points int64
		from   string
	}{
		{time.Hour, 60, "2026-12-01T09:31:00Z"},
		{15 * time.Minute, 15, "2026-12-01T10:16:00Z"},
		{time.Minute, 1, "2026-12-01T10:30:00Z"},
		{90 * time.Second, 2, "2026-12-01T10:29:00Z"}, // rounded up to whole windows
	} {
		first, last, from := span(now, tc.window)
		if last != minuteOf(now) || last-first+1 != tc.points || from.Format(time.RFC3339) != tc.from {
			t.Errorf("span(%v) = %d..%d from %s, want %d points from %s", tc.window, first, last, from, tc.points, tc.from)
		}
	}
}

func TestRecorderWindowsAndFilters(t *testing.T) {
	r := NewRecorder(0)
	t0 := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	m0 := minuteOf(t0)
	r.Record("orders", "t1", "", 200, time.Millisecond, t0)
	r.Record("orders", "t1", "", 404, time.Millisecond, t0)
	r.Record("orders", "t2", "", 502, time.Millisecond, t0.Add(time.Minute))
	r.Record("users", "", "", 401, time.Millisecond, t0.Add(time.Minute))
	// 62 minutes later the first slot is reused: minute m0 is gone.
	r.Record("orders", "t1", "", 200, time.Millisecond, t0.Add(ringSlots*time.Minute))

	for _, tc := range []struct {
		name     string
		f        Filter
		from, to int64
		want     map[string]map[int64][3]uint64 // service → minute → requests, 4xx, 5xx
	}{
		{"AllOfTheFirstTwoMinutes", Filter{AllTenants: true}, m0, m0 + 1, map[string]map[int64][3]uint64{
			"orders": {m0 + 1: {1, 0, 1}}, // m0 was overwritten by m0+62
			"users":  {m0 + 1: {1, 1, 0}},
		}},
		{"OneTenant", Filter{Tenant: "t2"}, m0, m0 + ringSlots, map[string]map[int64][3]uint64{
			"orders": {m0 + 1: {1, 0, 1}},
		}},
		{"NoTenantIsNotEveryTenant", Filter{Tenant: ""}, m0, m0 + ringSlots, map[string]map[int64][3]uint64{
			"users": {m0 + 1: {1, 1, 0}},
		}},
		{"OneService", Filter{AllTenants: true, Service: "orders"}, m0 + 2, m0 + ringSlots, map[string]map[int64][3]uint64{
			"orders": {m0 + ringSlots: {1, 0, 0}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]map[int64][3]uint64{}
			for svc, byMinute := range r.Read(tc.from, tc.to, tc.f) {
				got[svc.Service] = map[int64][3]uint64{}
				for m, c := range byMinute {
					got[svc.Service][m] = [3]uint64{c[fRequests], c[f4xx], c[f5xx]}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Read = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMaxSeriesFoldsNewTenants(t *testing.T) {
	r := NewRecorder(2)
	now := time.Now()
	for _, tenant := range []string{"a", "b", "c", "d"} {
		r.Record("orders", tenant, "", 200, time.Millisecond, now)
	}
	m := minuteOf(now)
	if n := len(*r.series.Load()); n != 3 { // a, b, then "" for c and d
		t.Fatalf("%d series, want 3", n)
	}
	if c := r.Read(m, m, Filter{AllTenants: true})[Series{Service: "orders"}][m]; c[fRequests] != 4 {
		t.Fatalf("all tenants: %d requests, want 4", c[fRequests])
	}
}

// Deltas: each flush sends what was counted since the previous committed
// one; an uncommitted flush is sent again.
func TestDeltas(t *testing.T) {
	r := NewRecorder(0)
	now := time.Now()
	m := minuteOf(now)
	sum := func(p pendingFlush) (n uint64) {
		for _, d := range p.deltas {
			n += d.n[fRequests]
		}
		return n
	}
	r.Record("orders", "t1", "", 200, time.Millisecond, now)
	r.Record("orders", "t1", "", 500, time.Millisecond, now)
	r.Record("orders", "t1", "", 200, time.Millisecond, now.Add(-2*time.Minute))
	p := r.deltas(m - 60)
	if sum(p) != 3 || len(p.deltas) != 2 {
		t.Fatalf("first flush: %d requests in %d deltas, want 3 in 2", sum(p), len(p.deltas))
	}
	// Not committed (Redis failed): the same again, plus what came since.
	r.Record("orders", "t2", "", 200, time.Millisecond, now)
	p = r.deltas(m - 60)
	if sum(p) != 4 {
		t.Fatalf("after a failed flush: %d requests, want 4", sum(p))
	}
	p.commit()
	if p := r.deltas(m - 60); len(p.deltas) != 0 {
		t.Fatalf("nothing new, yet %d deltas", len(p.deltas))
	}
	r.Record("orders", "t1", "", 404, time.Millisecond, now)
	p = r.deltas(m - 60)
	if len(p.deltas) != 1 || p.deltas[0].n[fRequests] != 1 || p.deltas[0].n[f4xx] != 1 || p.deltas[0].n[f5xx] != 0 {
		t.Fatalf("one more 404: %+v", p.deltas)
	}
	// Minutes older than the oldest asked for are not sent.
	r.Record("orders", "t3", "", 200, time.Millisecond, now.Add(-61*time.Minute))
	p.commit()
	if p := r.deltas(m - 60); len(p.deltas) != 0 {
		t.Fatalf("a minute out of the hour was sent: %+v", p.deltas)
	}
}

func TestEvict(t *testing.T) {
	r := NewRecorder(0)
	now := time.Now()
	r.Record("old", "", "", 200, time.Millisecond, now.Add(-70*time.Minute))
	r.Record("new", "", "", 200, time.Millisecond, now)
	r.evict(minuteOf(now)-ringSlots, true) // "old" was never flushed
	if len(*r.series.Load()) != 2 {
		t.Fatal("an unflushed series was evicted")
	}
	r.evict(minuteOf(now)-ringSlots, false)
	if s := *r.series.Load(); len(s) != 1 || s[key{"new", "", ""}] == nil {
		t.Fatalf("series after evict: %v", s)
	}
}

func TestRecordIsSafeConcurrently(t *testing.T) {
	r := NewRecorder(0)
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				r.Record(fmt.Sprint("svc", i%3), "", fmt.Sprint("t", g%2), 200+i%400, time.Duration(i)*time.Microsecond, now)
			}
		})
	}
	wg.Wait()
	m := minuteOf(now)
	var total uint64
	for _, byMinute := range r.Read(m, m, Filter{AllTenants: true}) {
		total += byMinute[m][fRequests]
	}
	if total != 8000 {
		t.Fatalf("%d requests counted, want 8000", total)
	}
}

func TestBuildReport(t *testing.T) {
	r := NewRecorder(0)
	now := time.Date(2026, 12, 1, 10, 30, 30, 0, time.UTC)
	for range 3 {
		r.Record("users", "t1", "", 200, 2*time.Millisecond, now)
	}
	r.Record("orders", "t1", "", 200, time.Millisecond, now.Add(-10*time.Minute))
	r.Record("orders", "t1", "", 503, time.Millisecond, now)
	r.Record("orders", "t1", "", 404, time.Millisecond, now)
	r.Record("orders", "t1", "", 200, time.Millisecond, now)
	first, last, from := span(now, 15*time.Minute)
	rep := buildReport(r.Read(first, last, Filter{AllTenants: true}), first, last, from, now, ScopeLocal, false)
	if rep.From != "2026-12-01T10:16:00Z" || rep.To != "2026-12-01T10:30:30Z" || rep.StepSeconds != 60 || rep.Scope != "local" {
		t.Fatalf("report head %+v", rep)
	}
	if len(rep.Services) != 2 || rep.Services[0].Service != "orders" || rep.Services[1].Service != "users" {
		t.Fatalf("services not sorted by requests: %+v", rep.Services)
	}
	o := rep.Services[0]
	secs := now.Sub(from).Seconds()
	if o.Requests != 4 || o.Errors4xx != 1 || o.Errors5xx != 1 || o.ErrorRate != 0.5 || o.RPS != round(4/secs, 3) {
		t.Fatalf("orders figures %+v", o.Figures)
	}
	if len(o.Series) != 15 || o.Series[14].T != "2026-12-01T10:30:00Z" || o.Series[14].Requests != 3 ||
		o.Series[4].Requests != 1 || o.Series[0].Requests != 0 || o.Series[0].P50 != 0 {
		t.Fatalf("orders series %+v", o.Series)
	}
	if rep.Totals.Requests != 7 || rep.Totals.Errors5xx != 1 || rep.Totals.P50 < 1 || rep.Totals.P50 > 3 {
		t.Fatalf("totals %+v", rep.Totals)
	}
	empty := buildReport(Dataset{}, first, last, from, now, ScopeCluster, false)
	if empty.Services == nil || empty.Totals.Requests != 0 || empty.Totals.P99 != 0 {
		t.Fatalf("empty report %+v", empty)
	}
}

// TestStatusOf: the status of an error, of reverse_proxy's response, or 200.
func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		proxy any
		want  int
	}{
		{"HandlerError", caddyhttp.Error(401, nil), nil, 401},
		{"PlainError", fmt.Errorf("boom"), nil, 500},
		{"Proxied", nil, 503, 503},
		{"Written", nil, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/x/y", nil)
			repl := caddy.NewReplacer()
			r = caddyhttp.PrepareRequest(r, repl, httptest.NewRecorder(), nil)
			if tc.proxy != nil {
				repl.Set("http.reverse_proxy.status_code", tc.proxy)
			}
			if got := statusOf(r, tc.err); got != tc.want {
				t.Fatalf("statusOf = %d, want %d", got, tc.want)
			}
		})
	}
}

// CPUTime is the process's CPU time (user + system) so far: on a shared
// machine, a benchmark's CPU per operation is steadier than its wall time.
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecord is the hot path alone: one request counted into an
// existing series, from parallel goroutines.
func BenchmarkRecord(b *testing.B) {
	r := NewRecorder(0)
	now := time.Now()
	r.Record("orders", "tenant-1", "", 200, time.Millisecond, now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record("orders", "tenant-1", "", 200, 3*time.Millisecond, now)
		}
	})
}

// BenchmarkHandler prices what plugboard_traffic adds to a request: its
// ServeHTTP around a next handler that sets the route's variables and
// answers, against that next handler alone.
//
//	go test ./caddymodules/traffic -run '^$' -bench Handler -count 6
func BenchmarkHandler(b *testing.B) {
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		caddyhttp.SetVar(r.Context(), varService, "orders")
		caddyhttp.SetVar(r.Context(), varTenant, "tenant-1")
		w.WriteHeader(200)
		return nil
	})
	h := &Handler{rec: NewRecorder(0)}
	req := httptest.NewRequest("GET", "/api/orders/items/1", nil)
	w := httptest.NewRecorder()
	for _, tc := range []struct {
		name  string
		serve func(r *http.Request) error
	}{
		{"without", func(r *http.Request) error { return next.ServeHTTP(w, r) }},
		{"with", func(r *http.Request) error { return h.ServeHTTP(w, r, next) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			repl := caddy.NewReplacer()
			r := caddyhttp.PrepareRequest(req, repl, w, nil)
			repl.Set("http.reverse_proxy.status_code", 200)
			b.ReportAllocs()
			cpu0 := CPUTime(b)
			for b.Loop() {
				if err := tc.serve(r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(CPUTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
