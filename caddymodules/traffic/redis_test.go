package traffic

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plugboard/plugboard/internal/testenv"
)

// flakyProxy forwards TCP connections to addr until it is cut; cut also
// drops the connections it carries.
type flakyProxy struct {
	ln    net.Listener
	addr  string
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newFlakyProxy(t *testing.T, addr string) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, addr: addr}
	t.Cleanup(func() { ln.Close(); p.cut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", p.addr)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *flakyProxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestRedisOutageAndRecovery: figures are the cluster's while Redis
// answers, this gateway's while it does not (no error), and the cluster's
// again once it is back, with what was counted meanwhile.
func TestRedisOutageAndRecovery(t *testing.T) {
	redisURL, prefix := testenv.RedisURL(t)
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFlakyProxy(t, opts.Addr)
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.ln.Addr().String()
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
	if err := other.write(ctx, []delta{{key: key{"orders", "t1"}, minute: m, n: counts{fRequests: 5}}}); err != nil {
		t.Fatal(err)
	}
	requests := func() (uint64, string) {
		d, scope := e.read(ctx, time.Now(), m, m, Filter{AllTenants: true})
		if c := d["orders"][m]; c != nil {
			return c[fRequests], scope
		}
		return 0, scope
	}

	e.rec.Record("orders", "t1", 200, time.Millisecond, now)
	if n, scope := requests(); n != 6 || scope != ScopeCluster {
		t.Fatalf("Redis up: %d requests, scope %s; want 6, cluster", n, scope)
	}
	proxy.cut(true)
	e.rec.Record("orders", "t1", 200, time.Millisecond, now)
	if n, scope := requests(); n != 2 || scope != ScopeLocal {
		t.Fatalf("Redis down: %d requests, scope %s; want this gateway's 2, local", n, scope)
	}
	proxy.cut(false)
	if n, scope := requests(); n != 7 || scope != ScopeCluster {
		t.Fatalf("Redis back: %d requests, scope %s; want 7, cluster", n, scope)
	}
}
