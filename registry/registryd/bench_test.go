package registryd_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// BenchmarkHeartbeat measures heartbeats per second through the registry's
// HTTP handler, called in process by parallel goroutines (no sockets), on
// each backend. "noop" is a handler that only reads the same request and
// answers 200: the baseline the others are read against.
//
//	go test ./registry/registryd -run '^$' -bench Heartbeat -benchtime 3s
func BenchmarkHeartbeat(b *testing.B) {
	b.Run("noop", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok"}`))
		})
		benchHeartbeats(b, h, "x")
	})
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			rp := start(b, be.env(b))
			in := rp.register("bench", 9001, nil)
			benchHeartbeats(b, rp.srv.Handler(), in.ID)
		})
	}
}

func benchHeartbeats(b *testing.B, h http.Handler, id string) {
	body := []byte(`{"service_id":"` + id + `"}`)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/api/registry/heartbeat", bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Errorf("heartbeat: %d %s", w.Code, w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
}

// BenchmarkHeartbeatHTTP is BenchmarkHeartbeat over loopback TCP with
// keep-alive connections from 32 concurrent clients, which share the
// machine's cores with the server: what a fleet of plugins sees.
//
//	go test ./registry/registryd -run '^$' -bench HeartbeatHTTP -benchtime 3s
func BenchmarkHeartbeatHTTP(b *testing.B) {
	b.Run("noop", func(b *testing.B) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok"}`))
		}))
		defer hs.Close()
		benchHeartbeatsHTTP(b, hs.URL, "x")
	})
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			rp := start(b, be.env(b))
			in := rp.register("bench", 9001, nil)
			benchHeartbeatsHTTP(b, rp.URL, in.ID)
		})
	}
}

func benchHeartbeatsHTTP(b *testing.B, base, id string) {
	body := []byte(`{"service_id":"` + id + `"}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}}
	defer client.CloseIdleConnections()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", base+"/api/registry/heartbeat", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("heartbeat: %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
}

// BenchmarkRegisterToWatcher measures the time from sending a registration
// over HTTP to its event reaching a watcher: of a second replica sharing the
// PostgreSQL and Redis (postgres+redis), or of the same process (sqlite).
// It reports the p50 and p99 in milliseconds.
//
//	go test ./registry/registryd -run '^$' -bench RegisterToWatcher -benchtime 500x
func BenchmarkRegisterToWatcher(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			env := be.env(b)
			writer := start(b, env)
			watcher := writer
			if be.name != "sqlite" {
				watcher = start(b, env)
			}
			events, _ := watcher.watch("", nil)
			testenv.NextSSE(b, events, 5*time.Second) // the snapshot
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				begin := time.Now()
				writer.register(fmt.Sprintf("svc-%d", i%500), 10000+i%50000, nil)
				for {
					if ev := testenv.NextSSE(b, events, 5*time.Second); ev.Event == "registered" || ev.Event == "updated" {
						break
					}
				}
				lat = append(lat, time.Since(begin))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}

// BenchmarkCatalog measures GET /api/registry/catalog (the console's
// services table) with 2,000 instances of 200 services registered, on each
// backend, through the HTTP handler in process; and, beside it, the full
// unpaged instance list it saves the console from reading.
//
//	go test ./registry/registryd -run '^$' -bench Catalog -benchtime 50x
func BenchmarkCatalog(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			rp := start(b, be.env(b))
			for i := range 2000 {
				rp.register(fmt.Sprintf("svc-%03d", i%200), 10000+i, nil)
			}
			for _, path := range []string{"/api/registry/catalog?limit=50", "/api/registry/services"} {
				b.Run(path[len("/api/registry/"):], func(b *testing.B) {
					for b.Loop() {
						r := httptest.NewRequest("GET", path, nil)
						r.Header.Set("Authorization", "Bearer "+token)
						w := httptest.NewRecorder()
						rp.srv.Handler().ServeHTTP(w, r)
						if w.Code != 200 {
							b.Fatalf("%s: %d %s", path, w.Code, w.Body)
						}
					}
				})
			}
		})
	}
}
