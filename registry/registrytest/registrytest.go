// Package registrytest runs a real registry (registryd, in process, on an
// httptest server) for the tests of the components that talk to it: the
// registry's own API tests, the gateway's modules and the SDK.
package registrytest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/registry/client"
	"github.com/plugboard/plugboard/registry/registryd"
)

// DefaultToken is the registry token when Options.Token is empty.
const DefaultToken = "registrytest-token-0123456789"

// Options configure Start. The zero value runs an embedded (SQLite,
// in-memory ephemeral state) registry in a temporary data directory.
type Options struct {
	// Token is the registry token [DefaultToken].
	Token string
	// Env holds further PLUGBOARD_* settings; they win over the defaults
	// (PLUGBOARD_DATA_DIR, PLUGBOARD_REGISTRY_TOKEN).
	Env map[string]string
	// Addr is the address to listen on ["": a free loopback port].
	Addr string
	// Wrap wraps the registry's handler (nil: as it is).
	Wrap func(http.Handler) http.Handler
	// Logger receives the registry's logs [discarded].
	Logger *slog.Logger
}

// Registry is a running registry.
type Registry struct {
	// URL is its base URL, Token its registry token.
	URL, Token string
	// Client is a client of it with Token.
	Client *client.Client
	// Server is the registry itself.
	Server *registryd.Server

	stop func()
}

// Start runs a registry until the test ends (or Stop).
func Start(t testing.TB, opt Options) *Registry {
	t.Helper()
	if opt.Token == "" {
		opt.Token = DefaultToken
	}
	vars := map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir(), "PLUGBOARD_REGISTRY_TOKEN": opt.Token}
	for k, v := range opt.Env {
		vars[k] = v
	}
	cfg, err := envconfig.Parse[registryd.Config](vars)
	if err != nil {
		t.Fatal(err)
	}
	logger := opt.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := registryd.New(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var h http.Handler = srv.Handler()
	if opt.Wrap != nil {
		h = opt.Wrap(h)
	}
	hs := httptest.NewUnstartedServer(h)
	if opt.Addr != "" {
		ln, err := net.Listen("tcp", opt.Addr)
		if err != nil {
			cancel()
			srv.Close()
			t.Fatal(err)
		}
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Start()
	var once sync.Once
	r := &Registry{URL: hs.URL, Token: opt.Token, Client: client.New(hs.URL, opt.Token, nil), Server: srv}
	r.stop = func() {
		once.Do(func() {
			srv.StartShutdown()
			hs.CloseClientConnections()
			hs.Close()
			cancel()
			srv.Close()
		})
	}
	t.Cleanup(r.stop)
	return r
}

// Stop shuts the registry down now; it is safe to call more than once.
func (r *Registry) Stop() { r.stop() }
