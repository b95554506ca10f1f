// Package daemon runs one Plugboard service process: --help text listing its
// variables, configuration parsing, the logger, the listener, serving and
// graceful shutdown, plus what every service opens (its stores, its router,
// its background work). Each service's Main is a Spec handed to Main.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/httpx"
)

// Service is a process's opened state and HTTP API.
type Service interface {
	Handler() http.Handler
	// Close releases the service's resources after serving stopped.
	Close() error
}

// Shutdowner is implemented by services that must act as soon as shutdown
// starts, before in-flight requests have finished (to end long-lived streams).
type Shutdowner interface {
	StartShutdown()
}

// Spec describes a service process of configuration type C.
type Spec[C any] struct {
	Name    string // binary name: "plugboard-registry"
	Summary string // one line for --help
	// Listen, Log and Grace read the common settings out of a C.
	Listen func(C) string
	Log    func(C) envconfig.Log
	Grace  func(C) time.Duration
	// New opens the service.
	New func(ctx context.Context, cfg C, logger *slog.Logger) (Service, error)
}

// Main runs the process spec describes until ctx is done. args may hold -h
// or --help; environ holds the environment (env.ToMap(os.Environ())).
func Main[C any](ctx context.Context, spec Spec[C], args []string, environ map[string]string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			var zero C
			fmt.Fprintf(stdout, "%s: %s\nIt takes no arguments; environment variables configure it:\n", spec.Name, spec.Summary)
			envconfig.Fprint(stdout, envconfig.Describe(zero))
			return nil
		}
		return fmt.Errorf("%s takes no arguments (got %q); see --help", spec.Name, args[0])
	}
	cfg, err := envconfig.Parse[C](environ)
	if err != nil {
		return err
	}
	logger := spec.Log(cfg).Logger(stderr).With(slog.String("service", spec.Name))
	svc, err := spec.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	ln, err := net.Listen("tcp", spec.Listen(cfg))
	if err != nil {
		return fmt.Errorf("listen on %s: %w", spec.Listen(cfg), err)
	}
	logger.Info("listening", slog.String("addr", ln.Addr().String()))
	var onShutdown func()
	if s, ok := svc.(Shutdowner); ok {
		onShutdown = s.StartShutdown
	}
	if err := httpx.Serve(ctx, logger, ln, svc.Handler(), spec.Grace(cfg), onShutdown); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
