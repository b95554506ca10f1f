package traffic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(App{})
}

// AppName is the app's ID in Caddy's config and its Caddyfile global option.
const AppName = "plugboard_traffic"

// Defaults of the app's options.
const (
	DefaultPrefix        = "plugboard:"
	DefaultFlushInterval = caddy.Duration(2 * time.Second)
)

// App holds the gateway's traffic figures: the Recorder the
// plugboard_traffic handler counts into, and, with Redis, the flushes that
// merge every gateway's figures. The plugboard_traffic and
// plugboard_traffic_api handlers load it; configure it with the global
// option of the same name, or leave it out for the defaults (this gateway
// only).
type App struct {
	// Redis is the URL of the Redis server the gateways share
	// (redis://…); placeholders are expanded when the config is loaded, so
	// {env.PLUGBOARD_REDIS_URL} keeps a password out of the adapted config.
	// Empty: the figures are this gateway's only.
	Redis string `json:"redis,omitempty"`
	// Prefix starts every Redis key, so that deployments (and tests) can
	// share a server. Default "plugboard:".
	Prefix string `json:"prefix,omitempty"`
	// FlushInterval is how often this gateway adds what it counted to
	// Redis (one round trip). Default 2s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`
	// MaxSeries bounds the (service, tenant) pairs kept in memory; past it,
	// new tenants are counted under none. Default 10000.
	MaxSeries int `json:"max_series,omitempty"`

	engine *engine
	key    string
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: AppName, New: func() caddy.Module { return new(App) }}
}

// engines keeps the figures across config reloads (the new config starts
// before the old one stops), one engine per Redis, prefix and interval.
var engines = caddy.NewUsagePool()

// Provision loads (or shares) the engine.
func (a *App) Provision(ctx caddy.Context) error {
	url := caddy.NewReplacer().ReplaceAll(a.Redis, "")
	if a.Prefix == "" {
		a.Prefix = DefaultPrefix
	}
	if a.FlushInterval == 0 {
		a.FlushInterval = DefaultFlushInterval
	}
	if a.FlushInterval < 0 {
		return errors.New("plugboard_traffic: flush_interval must be positive")
	}
	logger := ctx.Slogger()
	a.key = url + "\x00" + a.Prefix + "\x00" + strconv.FormatInt(int64(a.FlushInterval), 10) + "\x00" + strconv.Itoa(a.MaxSeries)
	v, _, err := engines.LoadOrNew(a.key, func() (caddy.Destructor, error) {
		return newEngine(url, a.Prefix, time.Duration(a.FlushInterval), a.MaxSeries, logger)
	})
	if err != nil {
		return fmt.Errorf("plugboard_traffic: %w", err)
	}
	a.engine = v.(*engine)
	return nil
}

// Start implements caddy.App; the engine runs from Provision.
func (*App) Start() error { return nil }

// Stop implements caddy.App.
func (*App) Stop() error { return nil }

// Cleanup releases the engine; the last user flushes and stops it.
func (a *App) Cleanup() error {
	if a.engine == nil {
		return nil
	}
	_, err := engines.Delete(a.key)
	return err
}

// Scopes of the figures the API serves.
const (
	ScopeCluster = "cluster" // every gateway's, from Redis
	ScopeLocal   = "local"   // this gateway's
)

// engine is a Recorder and the loop that flushes it to Redis (if any) and
// forgets idle series.
type engine struct {
	rec    *Recorder
	shared *shared // nil: this gateway only
	logger *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	down   atomic.Bool  // the last Redis operation failed
	tried  atomic.Int64 // when Redis was last tried (unix nanoseconds)
	retry  time.Duration
	mu     sync.Mutex // serialises flushes
}

func newEngine(redisURL, prefix string, every time.Duration, maxSeries int, logger *slog.Logger) (*engine, error) {
	e := &engine{rec: NewRecorder(maxSeries), logger: logger, done: make(chan struct{}), retry: retryDown}
	if redisURL != "" {
		sh, err := newShared(redisURL, prefix)
		if err != nil {
			return nil, err
		}
		e.shared = sh
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go e.loop(ctx, every)
	return e, nil
}

func (e *engine) loop(ctx context.Context, every time.Duration) {
	defer close(e.done)
	defer func() {
		if p := recover(); p != nil {
			e.logger.Error("traffic flush loop panicked; figures are no longer shared", slog.Any("panic", p))
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	lastEvict := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if e.shared != nil && e.shouldTry(now) {
				fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_ = e.flush(fctx, now)
				cancel()
			}
			if now.Sub(lastEvict) >= Step {
				e.rec.evict(minuteOf(now)-ringSlots, e.shared != nil)
				lastEvict = now
			}
		}
	}
}

// flush adds what this gateway counted since the last flush to Redis. A
// failed flush is retried whole at the next one; what is older than the
// hour by then is left out.
func (e *engine) flush(ctx context.Context, now time.Time) error {
	if e.shared == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rec.flushMu.Lock()
	defer e.rec.flushMu.Unlock()
	e.tried.Store(now.UnixNano())
	p := e.rec.deltas(minuteOf(now) - int64(MaxWindow/Step))
	if err := e.shared.write(ctx, p.deltas); err != nil {
		e.redisFailed(err)
		return err
	}
	p.commit()
	e.redisOK()
	return nil
}

// retryDown is how long a gateway whose Redis failed waits before trying
// it again (flushes and reads): no dial, and no log line, on every request.
const retryDown = 10 * time.Second

// shouldTry reports whether to use Redis now: it is up, or was last tried
// retryDown ago.
func (e *engine) shouldTry(now time.Time) bool {
	return !e.down.Load() || now.Sub(time.Unix(0, e.tried.Load())) >= e.retry
}

func (e *engine) redisFailed(err error) {
	if !e.down.Swap(true) {
		e.logger.Warn("Redis is unreachable: traffic figures are this gateway's only until it answers", slog.Any("error", err))
	}
}

func (e *engine) redisOK() {
	if e.down.Swap(false) {
		e.logger.Info("Redis answers again: traffic figures cover every gateway")
	}
}

// read returns the figures of minutes from..to that f admits: every
// gateway's (ScopeCluster) when Redis answers, else this gateway's
// (ScopeLocal).
func (e *engine) read(ctx context.Context, now time.Time, from, to int64, f Filter) (Dataset, string) {
	if e.shared != nil && e.shouldTry(now) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		// This gateway's latest figures first, so that a reader sees its own requests.
		if err := e.flush(ctx, now); err == nil {
			d, err := e.shared.read(ctx, from, to, f)
			if err == nil {
				return d, ScopeCluster
			}
			e.redisFailed(err)
		}
	}
	if e.shared != nil {
		e.logger.Warn("traffic figures served from this gateway only: Redis is unreachable")
	}
	return e.rec.Read(from, to, f), ScopeLocal
}

// Destruct stops the loop, flushes once more and closes the Redis client.
func (e *engine) Destruct() error {
	e.cancel()
	<-e.done
	if e.shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.flush(ctx, time.Now())
	return e.shared.close()
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*engine)(nil)
)
