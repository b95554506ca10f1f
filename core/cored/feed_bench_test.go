package cored_test

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// BenchmarkChangeFeedLatency measures how long after a write's answer on
// replica a its change arrives on a stream of replica b (two replicas on
// one PostgreSQL database and one Redis), p50 and p99 in milliseconds;
// and, as a bound of commit → stream, the same from the write's request
// (sent-p50-ms, sent-p99-ms).
func BenchmarkChangeFeedLatency(b *testing.B) {
	env := feedEnv(backends[1].env(b))
	a := start(b, env)
	envB := maps.Clone(env)
	envB["PLUGBOARD_DATA_DIR"] = b.TempDir()
	rb := start(b, envB)
	super := a.login("default", "admin", adminPassword).AccessToken
	tenant := a.mustCreate("/api/tenants", super, map[string]any{"name": "bench"})
	f := rb.follow(b, "")
	f.backlog()
	lat, sent := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		method := "PUT"
		if i%2 == 1 {
			method = "DELETE"
		}
		start := time.Now()
		if r := a.do(method, "/api/tenants/"+tenant+"/services/orders", super, nil); r.Status != 200 {
			b.Fatalf("%s: %d %s", method, r.Status, r.Body)
		}
		answered := time.Now()
		f.change()
		lat = append(lat, max(0, time.Since(answered)))
		sent = append(sent, time.Since(start))
	}
	b.StopTimer()
	ms := func(d []time.Duration, q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / 1e6 }
	slices.Sort(lat)
	slices.Sort(sent)
	b.ReportMetric(ms(lat, 0.5), "p50-ms")
	b.ReportMetric(ms(lat, 0.99), "p99-ms")
	b.ReportMetric(ms(sent, 0.5), "sent-p50-ms")
	b.ReportMetric(ms(sent, 0.99), "sent-p99-ms")
}
