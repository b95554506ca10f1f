package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/internal/storage"
)

// Database is a service's opened SQL store.
type Database interface {
	DB() *storage.DB
	Ping(ctx context.Context) error
	Close() error
}

// OpenStores opens the durable store of service name with open, then its
// ephemeral state (Redis keys under the configured prefix plus name+":",
// or memory when Redis is not configured), closing the first when the
// second fails.
func OpenStores[D Database](ctx context.Context, name string, cfg envconfig.Storage, logger *slog.Logger,
	open func(context.Context, storage.Options) (D, error)) (D, ephemeral.Store, error) {
	db, err := open(ctx, storage.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Name: name})
	if err != nil {
		return db, nil, fmt.Errorf("open %s store: %w", name, err)
	}
	state, err := ephemeral.Open(ctx, cfg.RedisURL, cfg.RedisPrefix+name+":")
	if err != nil {
		db.Close()
		return db, nil, fmt.Errorf("open %s state: %w", name, err)
	}
	logger.Info(name+" storage ready", slog.String("database", db.DB().Location), slog.Bool("redis", cfg.RedisURL != ""))
	return db, state, nil
}

// Router is the router of a service's HTTP API: httpx's, whose readiness
// check needs the database and reports the ephemeral state as degraded.
func Router(logger *slog.Logger, db Database, state ephemeral.Store) chi.Router {
	return httpx.NewRouter(logger,
		httpx.Check{Name: "The database", Ping: db.Ping},
		httpx.Check{Name: "The ephemeral state store", Ping: state.Ping, Degraded: true})
}

// Background runs a service's background work: goroutines that stop when
// the context they were started from ends or Stop is called, whichever is
// first. The zero value is ready; Start must come before Go.
type Background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start ties the background work to ctx: it is cancelled when ctx ends,
// but not by what merely carries ctx's values.
func (b *Background) Start(ctx context.Context) {
	b.ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, b.cancel)
}

// Go runs f in a goroutine with the background context.
func (b *Background) Go(f func(ctx context.Context)) {
	b.wg.Go(func() { f(b.ctx) })
}

// Stop cancels the background work and waits for it to return. It may be
// called before Start and more than once.
func (b *Background) Stop() {
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
}
