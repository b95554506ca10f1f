// Package cored wires the core process together: configuration, storage,
// ephemeral state, the identity service, the first-start bootstrap and the
// HTTP API. cmd/core calls Main; tests call New and Handler to run a core
// service in process.
package cored

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/changefeed"
	"github.com/plugboard/plugboard/core/httpapi"
	"github.com/plugboard/plugboard/core/identity"
	"github.com/plugboard/plugboard/core/sqlstore"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/daemon"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/secretfile"
	"github.com/plugboard/plugboard/internal/storage"
)

// Server is a running core service replica.
type Server struct {
	cfg    Config
	logger *slog.Logger
	store  *sqlstore.Store
	state  ephemeral.Store
	// throttleState is state with a per-replica fallback, for login throttling.
	throttleState *ephemeral.Fallback
	id            *identity.Service
	hub           *changefeed.Hub
	api           *httpapi.Server
	background    daemon.Background
}

// New opens the core service's storage and ephemeral state as cfg says,
// bootstraps an empty database (printing a generated admin password to
// stdout once), and starts the background work, which stops when ctx ends
// or Close is called.
func New(ctx context.Context, cfg Config, logger *slog.Logger, stdout io.Writer) (*Server, error) {
	store, state, err := daemon.OpenStores(ctx, "core", cfg.Storage, logger, sqlstore.Open)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, store: store, state: state}
	if err := s.open(ctx, stdout); err != nil {
		state.Close()
		store.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) open(ctx context.Context, stdout io.Writer) error {
	master, err := loadMasterKey(s.cfg, s.store.DB().Dialect, s.logger)
	if err != nil {
		return err
	}
	sealer, err := identity.NewSealer(master)
	if err != nil {
		return err
	}
	// Login throttling never fails open: while Redis is down it counts per
	// replica (ephemeral.Fallback), and the shared counts resume after.
	s.throttleState = ephemeral.NewFallback(s.state, s.logger)
	// Every committed change wakes this replica's hub and is announced to
	// the others'.
	s.hub = changefeed.New(s.store, s.state, s.logger, time.Second)
	s.store.OnChange(s.hub.Notify)
	id, err := identity.New(ctx, s.store, s.throttleState, s.logger, identity.Options{
		Issuer: s.cfg.Issuer, Audience: s.cfg.Issuer, AccessTTL: s.cfg.AccessTTL, RefreshTTL: s.cfg.RefreshTTL,
		KeyLifetime: s.cfg.KeyLifetime, Sealer: sealer, PasswordCost: s.cfg.BcryptCost,
	})
	if err != nil {
		return err
	}
	s.id = id
	if err := s.bootstrap(ctx, stdout); err != nil {
		return err
	}
	trusted, err := s.cfg.trusted()
	if err != nil {
		return err
	}
	feedToken, err := loadFeedToken(s.cfg, s.logger)
	if err != nil {
		return err
	}
	s.api = httpapi.New(s.store, id, s.logger, httpapi.Options{DefaultTenant: s.cfg.DefaultTenant, Changes: s.state,
		PasswordCost: s.cfg.BcryptCost, TrustedProxies: trusted, Feed: s.hub, FeedToken: feedToken})
	s.background.Start(ctx)
	s.background.Go(func(ctx context.Context) { id.Run(ctx, 30*time.Second) })
	hubErr := make(chan error, 1)
	s.background.Go(func(ctx context.Context) { hubErr <- s.hub.Run(ctx) })
	s.background.Go(func(ctx context.Context) {
		changefeed.Prune(ctx, s.store, core.ChangeRetention(s.cfg.AccessTTL), time.Minute, s.logger)
	})
	select {
	case <-s.hub.Ready():
	case err := <-hubErr:
		s.background.Stop()
		return fmt.Errorf("start the change feed: %w", err)
	}
	return nil
}

// loadFeedToken returns the change feed's token: the configured one, or
// the one kept in the data directory (corefeed.TokenFile), generated on
// first use, which a gateway on the same machine reads.
func loadFeedToken(cfg Config, logger *slog.Logger) (string, error) {
	if cfg.FeedToken != "" {
		return cfg.FeedToken, nil
	}
	path := filepath.Join(cfg.DataDir, corefeed.TokenFile)
	token, created, err := secretfile.LoadOrCreate(path, "pbf_")
	if err != nil {
		return "", fmt.Errorf("change feed token: %w", err)
	}
	if created {
		logger.Info(corefeed.TokenEnv+" is unset: generated a change feed token", slog.String("path", path))
	}
	return token, nil
}

// MasterKeyFile is the file in the data directory that holds the master
// key sealing the token signing keys when PLUGBOARD_CORE_MASTER_KEY is
// unset.
const MasterKeyFile = "core.master.key"

// loadMasterKey returns the configured master key, or the one kept in the
// data directory (mode 0600), generating and keeping one on first use. It
// never replaces a key file it cannot use: the signing keys sealed with it
// would be lost.
func loadMasterKey(cfg Config, dialect storage.Dialect, logger *slog.Logger) (string, error) {
	if cfg.MasterKey != "" {
		return cfg.MasterKey, nil
	}
	if cfg.DataDir == "" {
		return "", errors.New("no master key: set PLUGBOARD_CORE_MASTER_KEY, or PLUGBOARD_DATA_DIR for core to keep a generated one")
	}
	path := filepath.Join(cfg.DataDir, MasterKeyFile)
	shared := func(msg string) {
		if dialect == storage.Postgres {
			// Replicas share the database but not this file: each must be
			// given the same key.
			logger.Warn(msg+"; every core replica of this database needs the same key: set PLUGBOARD_CORE_MASTER_KEY to its contents", slog.String("path", path))
		} else {
			logger.Info(msg, slog.String("path", path))
		}
	}
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < 16 {
			return "", fmt.Errorf("master key file %s holds fewer than 16 characters; restore it or set PLUGBOARD_CORE_MASTER_KEY", path)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil { // a read-only mount, say
				logger.Warn("the master key file is readable by others and cannot be restricted", slog.String("path", path), slog.Any("error", err))
			}
		}
		shared("PLUGBOARD_CORE_MASTER_KEY is unset: token signing keys are sealed with the master key file")
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read master key file: %w", err)
	}
	if err := storage.PrivateDir(cfg.DataDir, true); err != nil {
		return "", fmt.Errorf("keep master key: %w (or set PLUGBOARD_CORE_MASTER_KEY)", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate master key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process got there first
		return loadMasterKey(cfg, dialect, logger)
	}
	if err != nil {
		return "", fmt.Errorf("keep master key: %w (or set PLUGBOARD_CORE_MASTER_KEY)", err)
	}
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(path, 0o600)
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("keep master key: %w", err)
	}
	shared("PLUGBOARD_CORE_MASTER_KEY is unset: generated a master key file that seals the token signing keys")
	return key, nil
}

// bootstrap creates the default tenant and the first super admin when the
// database has no user at all.
func (s *Server) bootstrap(ctx context.Context, stdout io.Writer) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	tenant, err := s.store.GetTenantByName(ctx, s.cfg.DefaultTenant)
	if fault.Is(err, fault.NotFound) {
		tenant = &core.Tenant{Name: s.cfg.DefaultTenant, DisplayName: "Default tenant", IsActive: true}
		err = s.store.CreateTenant(ctx, tenant)
	}
	if err != nil && !fault.Is(err, fault.Conflict) { // another replica got there first
		return fmt.Errorf("bootstrap tenant: %w", err)
	}
	if tenant == nil || tenant.ID == "" {
		if tenant, err = s.store.GetTenantByName(ctx, s.cfg.DefaultTenant); err != nil {
			return fmt.Errorf("bootstrap tenant: %w", err)
		}
	}
	password, generated := s.cfg.AdminPassword, false
	if password == "" {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		password, generated = base64.RawURLEncoding.EncodeToString(b), true
	}
	hash, err := auth.HashPasswordCost(password, s.cfg.BcryptCost)
	if err != nil {
		return err
	}
	admin := &core.User{TenantID: tenant.ID, Username: s.cfg.AdminUser, HashedPassword: hash, Role: core.RoleSuperAdmin, IsActive: true}
	if err := s.store.CreateUser(ctx, admin); err != nil {
		if fault.Is(err, fault.Conflict) {
			return nil
		}
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	_ = s.store.AppendAudit(ctx, &core.AuditEntry{TenantID: tenant.ID, ActorName: "bootstrap", Action: "user.create",
		ObjectType: "user", ObjectID: admin.ID})
	s.logger.Info("created the first super admin", slog.String("tenant", tenant.Name), slog.String("username", admin.Username))
	if generated {
		fmt.Fprintf(stdout, "plugboard-core: created super admin %q in tenant %q with password: %s\n", admin.Username, tenant.Name, password)
		fmt.Fprintln(stdout, "plugboard-core: this password is shown once; change it with POST /api/auth/password")
	}
	return nil
}

// Handler returns the core service's HTTP API.
func (s *Server) Handler() http.Handler {
	r := daemon.Router(s.logger, s.store, s.state)
	s.api.Routes(r)
	return r
}

// StartShutdown ends the change feed's streams, so that gateways reconnect
// (to another replica) and their streams do not hold the shutdown up.
func (s *Server) StartShutdown() {
	if s.hub != nil {
		s.hub.Shutdown()
	}
}

// Close stops the background work and releases the storage.
func (s *Server) Close() error {
	s.StartShutdown()
	s.background.Stop()
	if s.throttleState != nil {
		s.throttleState.Close()
	}
	s.state.Close()
	return s.store.Close()
}

// Main runs the core process until ctx is done; see daemon.Main.
func Main(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	return daemon.Main(ctx, daemon.Spec[Config]{
		Name:    "plugboard-core",
		Summary: "the Plugboard core service: identity, tenants, RBAC, API keys, configuration, audit.",
		Listen:  func(c Config) string { return c.Listen },
		Log:     func(c Config) envconfig.Log { return c.Log },
		Grace:   func(c Config) time.Duration { return c.ShutdownTimeout },
		New: func(ctx context.Context, cfg Config, logger *slog.Logger) (daemon.Service, error) {
			return New(ctx, cfg, logger, stdout)
		},
	}, args, environ, stdout, stderr)
}
