package traffic

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plugboard/plugboard/internal/testenv"
)

// TestRedisOutageAndRecovery: figures are the cluster's while Redis
// answers, this gateway's while it does not (no error), and the cluster's
// again once it is back, with what was counted meanwhile.
func TestRedisOutageAndRecovery(t *testing.T) {
	redisURL, prefix := testenv.RedisURL(t)
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewFaultProxy(t, opts.Addr)
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.Addr()
	viaProxy := u.String()
	e, err := newEngine(viaProxy, prefix, time.Hour, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.retry = 0
	t.Cleanup(func() { e.Destruct() })
	// Another gateway's counts, written straight into Redis.
	other, _ := newShared(redisURL, prefix)
	defer other.close()
	now := time.Now()
	m := minuteOf(now)
	ctx := context.Background()
	if err := other.write(ctx, []delta{{key: key{"orders", "t1", ""}, minute: m, n: counts{fRequests: 5}}}); err != nil {
		t.Fatal(err)
	}
	requests := func() (uint64, string) {
		d, scope := e.read(ctx, time.Now(), m, m, Filter{AllTenants: true})
		if c := d[Series{Service: "orders"}][m]; c != nil {
			return c[fRequests], scope
		}
		return 0, scope
	}

	e.rec.Record("orders", "t1", "", 200, time.Millisecond, now)
	if n, scope := requests(); n != 6 || scope != ScopeCluster {
		t.Fatalf("Redis up: %d requests, scope %s; want 6, cluster", n, scope)
	}
	proxy.Down()
	e.rec.Record("orders", "t1", "", 200, time.Millisecond, now)
	if n, scope := requests(); n != 2 || scope != ScopeLocal {
		t.Fatalf("Redis down: %d requests, scope %s; want this gateway's 2, local", n, scope)
	}
	proxy.Up()
	if n, scope := requests(); n != 7 || scope != ScopeCluster {
		t.Fatalf("Redis back: %d requests, scope %s; want 7, cluster", n, scope)
	}
}
