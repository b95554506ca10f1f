// Package registryd wires the registry process together: configuration,
// storage, ephemeral state, the change feed, the sweeper and the HTTP API.
// cmd/registry calls Main; tests call New and Handler to run registries in
// process.
package registryd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/plugboard/plugboard/internal/daemon"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/secretfile"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/feed"
	"github.com/plugboard/plugboard/registry/health"
	"github.com/plugboard/plugboard/registry/httpapi"
	"github.com/plugboard/plugboard/registry/sqlstore"
)

// TokenFile is where a generated registry token is kept, in the data
// directory.
const TokenFile = "registry.token"

// Server is a running registry replica.
type Server struct {
	logger     *slog.Logger
	store      *sqlstore.Store
	state      ephemeral.Store
	hub        *feed.Hub
	api        *httpapi.Server
	background daemon.Background
}

// New opens the registry's storage and ephemeral state as cfg says and
// starts its background work (the change feed and the sweeper), which stops
// when ctx ends or Close is called.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	token, err := loadToken(cfg, logger)
	if err != nil {
		return nil, err
	}
	allowed, err := cfg.allowed()
	if err != nil {
		return nil, err
	}
	protected, err := cfg.protected()
	if err != nil {
		return nil, err
	}
	store, state, err := daemon.OpenStores(ctx, "registry", cfg.Storage, logger, sqlstore.Open)
	if err != nil {
		return nil, err
	}

	s := &Server{logger: logger, store: store, state: state}
	s.hub = feed.New(store, state, logger, time.Second)
	beats := health.NewBeats(state, cfg.InactiveAfter+time.Minute)
	s.api = httpapi.New(store, s.hub, beats, logger, httpapi.Options{
		Token: token, Keys: newCoreKeys(cfg.CoreURL, cfg.KeyCacheTTL, logger), ReservedNames: cfg.ReservedNames,
		Addresses:  httpapi.AddressPolicy{Allowed: allowed, Protected: protected, DenyLoopback: !cfg.AllowLoopback},
		Resilience: &registry.ResilienceLimits{MaxTimeout: cfg.MaxTimeout, MaxRetries: cfg.MaxRetries},
		MaxBody:    cfg.MaxBody, Recheck: cfg.KeyCacheTTL,
	})
	sweeper := health.NewSweeper(store, beats, s.hub, state, logger, health.Options{
		Owner: newID(), InactiveAfter: cfg.InactiveAfter, SweepEvery: cfg.SweepInterval,
		ProbeEvery: cfg.HealthInterval, ProbeTimeout: cfg.HealthTimeout, FailAfter: cfg.HealthFailAfter,
		KeepEvents: cfg.EventsKept,
	})

	s.background.Start(ctx)
	hubErr := make(chan error, 1)
	s.background.Go(func(ctx context.Context) { hubErr <- s.hub.Run(ctx) })
	s.background.Go(sweeper.Run)
	select {
	case <-s.hub.Ready():
	case err := <-hubErr:
		s.Close()
		return nil, err
	}
	s.background.Go(s.retireRefused)
	return s, nil
}

// retireRefused deregisters the active instances the address policy
// refuses: those registered before it (or its configuration) changed, such
// as an instance at a platform listener (issue 11, finding 1).
func (s *Server) retireRefused(ctx context.Context) {
	list, err := s.store.List(ctx, registry.Filter{})
	if err != nil {
		s.logger.Warn("could not check stored instances against the address policy", slog.Any("error", err))
		return
	}
	for _, in := range list {
		msg := s.api.AddressProblem(ctx, in)
		if msg == "" {
			continue
		}
		ev, err := s.store.Deregister(ctx, in.ID)
		if err != nil {
			if !fault.Is(err, fault.NotFound) { // another replica was faster
				s.logger.Warn("could not deregister a refused instance", slog.String("id", in.ID), slog.Any("error", err))
			}
			continue
		}
		s.hub.Publish(ctx, ev)
		s.logger.Warn("deregistered an instance the address policy refuses",
			slog.String("id", in.ID), slog.String("name", in.Name), slog.String("reason", msg))
	}
}

// Handler returns the registry's HTTP API.
func (s *Server) Handler() http.Handler {
	r := daemon.Router(s.logger, s.store, s.state)
	s.api.Routes(r)
	return r
}

// StartShutdown tells every watcher to reconnect (to another replica) so
// that their streams do not hold the shutdown up.
func (s *Server) StartShutdown() { s.hub.Shutdown() }

// Close stops the background work and releases the storage.
func (s *Server) Close() error {
	s.hub.Shutdown()
	s.background.Stop()
	s.state.Close()
	return s.store.Close()
}

// loadToken returns the configured token, or the one kept in the data
// directory, generating and keeping one on first use.
func loadToken(cfg Config, logger *slog.Logger) (string, error) {
	if cfg.Token != "" {
		return cfg.Token, nil
	}
	path := filepath.Join(cfg.DataDir, TokenFile)
	token, created, err := secretfile.LoadOrCreate(path, "pbr_")
	if err != nil {
		return "", fmt.Errorf("registry token: %w", err)
	}
	if created {
		logger.Warn("PLUGBOARD_REGISTRY_TOKEN is unset: generated a registry token", slog.String("path", path))
	} else {
		logger.Info("registry token read from file", slog.String("path", path))
	}
	return token, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Main runs the registry process until ctx is done; see daemon.Main.
func Main(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	return daemon.Main(ctx, daemon.Spec[Config]{
		Name:    "plugboard-registry",
		Summary: "the Plugboard service registry.",
		Listen:  func(c Config) string { return c.Listen },
		Log:     func(c Config) envconfig.Log { return c.Log },
		Grace:   func(c Config) time.Duration { return c.ShutdownTimeout },
		New: func(ctx context.Context, cfg Config, logger *slog.Logger) (daemon.Service, error) {
			return New(ctx, cfg, logger)
		},
	}, args, environ, stdout, stderr)
}
