package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

func TestGCRA(t *testing.T) {
	l := newLocal(100)
	c := cell{bucket: "b", interval: int64(100 * time.Millisecond), burst: 3} // 10/s, burst 3
	now := int64(time.Hour)
	out := make([]verdict, 1)
	for i := range 3 {
		if !l.decide(now, []cell{c}, out) || out[0].remaining != int64(2-i) {
			t.Fatalf("request %d: refused or remaining %d", i, out[0].remaining)
		}
	}
	if l.decide(now, []cell{c}, out) || out[0].retry != 100*time.Millisecond || out[0].remaining != 0 {
		t.Fatalf("4th at once: admitted or %+v", out[0])
	}
	if !l.decide(now+int64(100*time.Millisecond), []cell{c}, out) {
		t.Fatal("refused after one interval")
	}
	// All or nothing: a refusing cell keeps the other from counting.
	free := cell{bucket: "free", interval: 1, burst: 1000}
	if l.decide(now+int64(100*time.Millisecond), []cell{free, c}, make([]verdict, 2)) {
		t.Fatal("admitted past c")
	}
	l.mu.Lock()
	_, counted := l.tats["free"]
	l.mu.Unlock()
	if counted {
		t.Fatal("a refused request counted in another bucket")
	}
}

// TestLocalBounded: past maxKeys, new buckets share one overflow bucket
// (an address scan neither grows memory nor escapes the limit).
func TestLocalBounded(t *testing.T) {
	l := newLocal(10)
	out := make([]verdict, 1)
	now := int64(time.Hour)
	admitted := 0
	for i := range 100 {
		c := cell{bucket: "ip:" + strconv.Itoa(i), interval: int64(time.Minute), burst: 5}
		if l.decide(now, []cell{c}, out) {
			admitted++
		}
	}
	if l.size() > 11 || admitted != 10+5 {
		t.Fatalf("%d buckets, %d admitted; want ≤ 11 and 10 + 5 (overflow burst)", l.size(), admitted)
	}
}

// TestRedisScript runs limitScript against Redis: the same answers as gcra.
func TestRedisScript(t *testing.T) {
	url, prefix := testenv.RedisURL(t)
	s, err := newShared(url, prefix, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	c := cell{bucket: "b", interval: int64(time.Minute), burst: 3}
	out := make([]verdict, 2)
	for i := range 3 {
		g, err := s.decide(context.Background(), []cell{c}, out, 16)
		if err != nil || g != 1 || out[0].remaining != int64(2-i) {
			t.Fatalf("request %d: %v %v %+v", i, g, err, out[0])
		}
	}
	g, err := s.decide(context.Background(), []cell{{bucket: "other", interval: 1000, burst: 10}, c}, out, 16)
	if err != nil || g != 0 || out[1].retry < 59*time.Second || out[1].retry > time.Minute {
		t.Fatalf("4th: %v %v %+v", g, err, out)
	}
	// Plenty of room: a lease of up to 16 (room/8), counted in full.
	big := cell{bucket: "big", interval: 1000, burst: 1000}
	if g, err := s.decide(context.Background(), []cell{big}, out, 16); err != nil || g != 16 || out[0].remaining != 1000-16 {
		t.Fatalf("lease: %v %v %+v", g, err, out[0])
	}
	if g, err := s.decide(context.Background(), []cell{{bucket: "small", interval: 1000, burst: 20}}, out, 16); err != nil || g != 2 {
		t.Fatalf("lease near the limit: %v %v", g, err)
	}
	if n, _ := s.client.Exists(context.Background(), prefix+"rl:other").Result(); n != 0 {
		t.Fatal("a refused request counted in another bucket")
	}
}

func benchCells() []cell {
	return []cell{
		{bucket: "e|orders|GET /items/{id}|u:user-1", interval: int64(time.Microsecond), burst: 1 << 40},
		{bucket: "s|orders|u:user-1", interval: int64(time.Microsecond), burst: 1 << 40},
	}
}

// BenchmarkDecideLocal is the embedded decision of a request under two
// non-binding limits (endpoint and service default).
func BenchmarkDecideLocal(b *testing.B) {
	e, _ := newEngine("", "", time.Second, time.Second, DefaultMaxKeys, slog.New(slog.DiscardHandler))
	cells := benchCells()
	out := make([]verdict, len(cells))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !e.decide(context.Background(), time.Now(), cells, out) {
				b.Fatal("refused")
			}
		}
	})
}

// BenchmarkDecideRedis is the same decision in Redis (one round trip).
func BenchmarkDecideRedis(b *testing.B) {
	url, prefix := testenv.RedisURL(b)
	e, err := newEngine(url, prefix, time.Second, time.Second, DefaultMaxKeys, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Destruct()
	cells := benchCells()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		out := make([]verdict, len(cells))
		for pb.Next() {
			if !e.decide(context.Background(), time.Now(), cells, out) {
				b.Fatal("refused")
			}
		}
	})
	if e.down.Load() {
		b.Fatal("Redis failed during the benchmark")
	}
}
