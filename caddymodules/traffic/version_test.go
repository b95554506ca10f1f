package traffic

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// TestReportByVersion: requests are counted apart per version that served;
// the report's service figures stay the sum over versions (the shape the
// console reads), and by=version adds each version's figures and share.
func TestReportByVersion(t *testing.T) {
	r := NewRecorder(0)
	now := time.Date(2026, 12, 1, 10, 30, 30, 0, time.UTC)
	for range 3 {
		r.Record("shop", "t1", "v1", 200, time.Millisecond, now)
	}
	r.Record("shop", "t2", "v2", 503, time.Millisecond, now)
	r.Record("shop", "t1", "", 200, time.Millisecond, now.Add(-time.Minute)) // before the rules
	r.Record("users", "t1", "", 200, time.Millisecond, now)
	first, last, from := span(now, 5*time.Minute)
	d := r.Read(first, last, Filter{AllTenants: true})

	plain := buildReport(d, first, last, from, now, ScopeLocal, false)
	if len(plain.Services) != 2 || plain.Services[0].Service != "shop" || plain.Services[0].Requests != 5 || plain.Services[0].Errors5xx != 1 {
		t.Fatalf("services %+v", plain.Services)
	}
	if plain.Services[0].Versions != nil || plain.Services[0].Series[3].Requests != 1 || plain.Services[0].Series[4].Requests != 4 {
		t.Fatalf("shop without by=version: %+v", plain.Services[0])
	}
	if plain.Totals.Requests != 6 {
		t.Fatalf("totals %+v", plain.Totals)
	}

	rep := buildReport(d, first, last, from, now, ScopeLocal, true)
	shop := rep.Services[0]
	if shop.Requests != 5 || len(shop.Versions) != 3 {
		t.Fatalf("shop by version: %+v", shop)
	}
	want := []struct {
		v    string
		n    uint64
		e5   uint64
		frac float64
	}{{"", 1, 0, 0.2}, {"v1", 3, 0, 0.6}, {"v2", 1, 1, 0.2}}
	for i, w := range want {
		g := shop.Versions[i]
		if g.Version != w.v || g.Requests != w.n || g.Errors5xx != w.e5 || g.Share != w.frac {
			t.Errorf("version %d = %+v, want %+v", i, g, w)
		}
	}
	if u := rep.Services[1]; len(u.Versions) != 1 || u.Versions[0].Version != "" || u.Versions[0].Share != 1 {
		t.Errorf("users by version: %+v", u.Versions)
	}
}

// TestMaxSeriesKeepsVersions: past max_series a new tenant folds into no
// tenant, but the version it was served by is kept apart.
func TestMaxSeriesKeepsVersions(t *testing.T) {
	r := NewRecorder(1)
	now := time.Now()
	r.Record("shop", "a", "v1", 200, time.Millisecond, now)
	r.Record("shop", "b", "v1", 200, time.Millisecond, now)
	r.Record("shop", "c", "v2", 200, time.Millisecond, now)
	r.Record("shop", "d", "v2", 200, time.Millisecond, now)
	if n := len(*r.series.Load()); n != 3 { // a/v1, then ""/v1 and ""/v2
		t.Fatalf("%d series, want 3", n)
	}
	m := minuteOf(now)
	d := r.Read(m, m, Filter{AllTenants: true})
	if d[Series{"shop", "v1"}][m][fRequests] != 2 || d[Series{"shop", "v2"}][m][fRequests] != 2 {
		t.Fatalf("read %v", d)
	}
}

// TestFieldRoundTrip: a version (which may hold "|") survives the Redis
// field layout, and an unversioned field keeps the layout of gateways
// older than versions.
func TestFieldRoundTrip(t *testing.T) {
	for _, k := range []key{{"shop", "t1", ""}, {"shop", "", "v2"}, {"shop", "t1", "2.0|beta"}} {
		for _, f := range []int{fRequests, f4xx, fBucket0 + 7} {
			field := fieldPrefix(k) + fieldName(f) + fieldSuffix(k)
			gk, gf, ok := parseField(field)
			if !ok || gk != k || gf != f {
				t.Errorf("parseField(%q) = %v, %d, %v; want %v, %d", field, gk, gf, ok, k, f)
			}
		}
	}
	if got := fieldPrefix(key{"shop", "t1", ""}) + fieldName(fRequests) + fieldSuffix(key{"shop", "t1", ""}); got != "shop|t1|req" {
		t.Errorf("unversioned field %q, want shop|t1|req", got)
	}
	for _, bad := range []string{"shop|t1|req|", "shop|t1|nope|v1", "shop|t1"} {
		if _, _, ok := parseField(bad); ok {
			t.Errorf("parseField(%q) accepted", bad)
		}
	}
}

// TestVersionsThroughRedis: per-version counts written by one gateway are
// read back apart by another.
func TestVersionsThroughRedis(t *testing.T) {
	redisURL, prefix := testenv.RedisURL(t)
	s, err := newShared(redisURL, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	m := minuteOf(time.Now())
	ctx := context.Background()
	err = s.write(ctx, []delta{
		{key: key{"shop", "t1", "v1"}, minute: m, n: counts{fRequests: 3}},
		{key: key{"shop", "t1", "v2"}, minute: m, n: counts{fRequests: 1, f5xx: 1}},
		{key: key{"shop", "t2", ""}, minute: m, n: counts{fRequests: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.read(ctx, m, m, Filter{Tenant: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d[Series{"shop", "v1"}][m][fRequests] != 3 || d[Series{"shop", "v2"}][m][f5xx] != 1 {
		t.Fatalf("read %v", d)
	}
}

func TestParseQueryBy(t *testing.T) {
	for _, tc := range []struct {
		q      string
		by, ok bool
	}{{"", false, true}, {"by=version", true, true}, {"by=tenant", false, false}, {"service=shop&window=5m&by=version", true, true}} {
		q, err := parseQuery(httptest.NewRequest("GET", "/api/gateway/traffic?"+tc.q, nil))
		if (err == nil) != tc.ok || q.byVersion != tc.by {
			t.Errorf("%q: %+v, %v", tc.q, q, err)
		}
	}
}
