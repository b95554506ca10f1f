// Package registryd wires the registry process together: configuration,
// storage, ephemeral state and the HTTP server. cmd/registry calls Main;
// tests call New and Handler to run a registry in process.
package registryd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/plugboard/plugboard/core/platform/daemon"
	"github.com/plugboard/plugboard/core/platform/envconfig"
	"github.com/plugboard/plugboard/core/platform/ephemeral"
	"github.com/plugboard/plugboard/core/platform/httpx"
	"github.com/plugboard/plugboard/core/platform/storage"
	"github.com/plugboard/plugboard/registry/sqlstore"
)

// Server is a running registry's state.
type Server struct {
	cfg    Config
	logger *slog.Logger
	store  *sqlstore.Store
	state  ephemeral.Store
}

// New opens the registry's storage and ephemeral state as cfg says.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	store, err := sqlstore.Open(ctx, storage.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Name: "registry"})
	if err != nil {
		return nil, fmt.Errorf("open registry store: %w", err)
	}
	state, err := ephemeral.Open(ctx, cfg.RedisURL, cfg.RedisPrefix+"registry:")
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open registry state: %w", err)
	}
	logger.Info("registry storage ready", slog.String("database", store.DB().Location), slog.Bool("redis", cfg.RedisURL != ""))
	return &Server{cfg: cfg, logger: logger, store: store, state: state}, nil
}

// Close releases the server's storage.
func (s *Server) Close() error {
	s.state.Close()
	return s.store.Close()
}

// Handler returns the registry's HTTP API.
func (s *Server) Handler() http.Handler {
	r := httpx.NewRouter(s.logger,
		httpx.Check{Name: "The database", Ping: s.store.Ping},
		httpx.Check{Name: "The ephemeral state store", Ping: s.state.Ping})
	return r
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
