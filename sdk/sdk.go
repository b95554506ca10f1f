// Package sdk lets a Go service join Plugboard in a few lines: Run serves
// its handler, registers it with the registry, keeps it alive with
// heartbeats (re-registering after a registry outage or a 404), and on
// SIGTERM/SIGINT deregisters it first and then drains in-flight requests.
// Middleware verifies the identity the gateway signed and puts it in the
// request context; ConfigClient reads and watches the configuration center.
//
//	func main() {
//		cfg, err := sdk.LoadConfig()        // PLUGBOARD_SERVICE_* variables
//		if err != nil { log.Fatal(err) }
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
//			id := sdk.IdentityFrom(r.Context())
//			fmt.Fprintf(w, "hello %s of tenant %s\n", id.UserID, id.TenantID)
//		})
//		log.Fatal(sdk.Run(context.Background(), cfg, sdk.Middleware(cfg.Verifier(), mux)))
//	}
package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/client"
)

// Endpoint is one operation the service offers, with the policy the
// gateway enforces for it (the seed's endpoint shape).
type Endpoint = registry.Endpoint

// RateLimit is an endpoint's rate_limit, which every gateway enforces:
// at most Requests per Per ("1s" … "24h") for each Key (user by default;
// tenant, api_key, client_ip or service), Burst at once (default
// Requests). The registry refuses an invalid one, naming the field.
type RateLimit = registry.RateLimit

// RateLimit keys.
const (
	RateLimitByUser     = registry.KeyUser
	RateLimitByTenant   = registry.KeyTenant
	RateLimitByAPIKey   = registry.KeyAPIKey
	RateLimitByClientIP = registry.KeyClientIP
	RateLimitByService  = registry.KeyService
)

// UndeclaredPaths is a service's policy for paths it did not declare.
type UndeclaredPaths = registry.UndeclaredPaths

// Resilience is what a service asks of the gateway when an instance is
// slow or fails: its upstream timeout, retries and the failures retried,
// within the platform's caps (docs/plugins.md).
type Resilience = registry.Resilience

// UndeclaredPaths values.
const (
	UndeclaredAuthenticated = registry.UndeclaredAuthenticated
	UndeclaredDeny          = registry.UndeclaredDeny
)

// Config is a service's SERVICE_CONFIG plus where the platform is. Every
// field can come from a PLUGBOARD_* variable (LoadConfig).
type Config struct {
	Name           string          `env:"SERVICE_NAME"`
	DisplayName    string          `env:"SERVICE_DISPLAY_NAME"`
	Version        string          `env:"SERVICE_VERSION"`
	Host           string          `env:"SERVICE_HOST" envDefault:"127.0.0.1"` // the address the gateway reaches
	Port           int             `env:"SERVICE_PORT"`                        // 0: any free port
	Listen         string          `env:"SERVICE_LISTEN"`                      // default Host:Port
	BasePath       string          `env:"SERVICE_BASE_PATH"`
	HealthCheckURL string          `env:"SERVICE_HEALTH_CHECK_URL"`
	Tags           []string        `env:"SERVICE_TAGS" envSeparator:","`
	Endpoints      []Endpoint      `env:"-"`
	Metadata       json.RawMessage `env:"-"`
	// UndeclaredPaths is what the gateway does with requests to paths and
	// methods not in Endpoints: UndeclaredAuthenticated (the default, any
	// valid identity) or UndeclaredDeny (refused).
	UndeclaredPaths UndeclaredPaths `env:"SERVICE_UNDECLARED_PATHS"`
	// Resilience asks for the service's upstream timeout and retries, such
	// as &sdk.Resilience{Timeout: "2s", Retries: &two}; nil: the gateway's
	// defaults. Above the platform's caps the registration is refused.
	Resilience *Resilience `env:"-"`

	// RegistryURL is where the registry answers.
	RegistryURL string `env:"REGISTRY_URL" envDefault:"http://127.0.0.1:8081"`
	// APIKey (with the registry:write:<name> scope, or registry:write) or RegistryToken authenticates
	// every registry call (reads need a credential too); APIKey wins when
	// both are set.
	APIKey        string `env:"API_KEY"`
	RegistryToken string `env:"REGISTRY_TOKEN"`
	// ServiceKey verifies the gateway's identity headers (Middleware,
	// through Verifier): this service's own key, which
	// `plugboard-gateway service-key <name>` prints. ServiceKeyPrevious is
	// also accepted, for the overlap of a key rotation.
	ServiceKey         string `env:"SERVICE_KEY"`
	ServiceKeyPrevious string `env:"SERVICE_KEY_PREVIOUS"`
	// SigningSecret is the gateway's master secret: legacy and insecure
	// (it can sign for every service), used only when ServiceKey and
	// ServiceKeyPrevious are unset, to derive this service's key.
	SigningSecret string `env:"GATEWAY_SIGNING_SECRET"`
	// CoreURL is where the configuration center answers.
	CoreURL string `env:"CORE_URL" envDefault:"http://127.0.0.1:8082"`

	// HeartbeatInterval is the heartbeat period (±10% jitter). Default 30s.
	HeartbeatInterval time.Duration `env:"HEARTBEAT_INTERVAL" envDefault:"30s"`
	// DrainTimeout bounds the wait for in-flight requests on shutdown.
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT" envDefault:"15s"`
	// Logger receives the life-cycle log; nil logs to stderr as text.
	Logger *slog.Logger `env:"-"`
}

// LoadConfig reads a Config from the PLUGBOARD_* environment. A bad value
// is an error that names the variable, as the platform's processes report
// it.
func LoadConfig() (Config, error) {
	cfg, err := envconfig.Parse[Config](env.ToMap(os.Environ()))
	if err != nil {
		return cfg, fmt.Errorf("plugboard sdk: %w", err)
	}
	return cfg, nil
}

// Run serves h and keeps the service registered until ctx ends or the
// process gets SIGTERM or SIGINT; then it deregisters (so the gateway stops
// sending traffic), lets in-flight requests finish, and returns nil.
func Run(ctx context.Context, cfg Config, h http.Handler) error {
	if cfg.Name == "" {
		return errors.New("plugboard sdk: the service needs a name (PLUGBOARD_SERVICE_NAME)")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 30 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 15 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	logger = logger.With(slog.String("service", cfg.Name))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	listen := cfg.Listen
	if listen == "" {
		listen = net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("plugboard sdk: listen on %s: %w", listen, err)
	}
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("serving", slog.String("addr", ln.Addr().String()))

	lc := newLifecycle(cfg, logger)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lc.run(ctx)
	}()

	select {
	case err := <-serveErr:
		stop()
		<-done
		return fmt.Errorf("plugboard sdk: serve: %w", err)
	case <-ctx.Done():
	}
	<-done // the life cycle deregisters on its way out
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("plugboard sdk: drain: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// lifecycle registers, heartbeats and deregisters one instance.
type lifecycle struct {
	cfg    Config
	logger *slog.Logger
	reg    *client.Client
	id     string
}

func newLifecycle(cfg Config, logger *slog.Logger) *lifecycle {
	return &lifecycle{cfg: cfg, logger: logger, reg: newRegistryClient(cfg)}
}

func newRegistryClient(cfg Config) *client.Client {
	hc := &http.Client{Timeout: 10 * time.Second}
	if cfg.APIKey != "" {
		hc.Transport = apiKeyTransport{key: cfg.APIKey}
		return client.New(cfg.RegistryURL, "", hc)
	}
	return client.New(cfg.RegistryURL, cfg.RegistryToken, hc)
}

// apiKeyTransport sends the API key on every request.
type apiKeyTransport struct{ key string }

func (t apiKeyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-API-Key", t.key)
	return http.DefaultTransport.RoundTrip(r)
}

func (l *lifecycle) instance() *registry.Instance {
	c := l.cfg
	return &registry.Instance{Name: c.Name, DisplayName: c.DisplayName, Version: c.Version, Host: c.Host, Port: c.Port,
		BasePath: c.BasePath, HealthCheckURL: c.HealthCheckURL, Endpoints: c.Endpoints, Metadata: c.Metadata, Tags: c.Tags,
		UndeclaredPaths: c.UndeclaredPaths, Resilience: c.Resilience}
}

// run registers (retrying with backoff while the registry is unreachable),
// heartbeats until ctx ends, re-registering when the registry forgot the
// instance, then deregisters.
func (l *lifecycle) run(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for l.id == "" && ctx.Err() == nil {
		if err := l.register(ctx); err != nil {
			l.logger.Warn("could not register; retrying", slog.Any("error", err), slog.Duration("in", backoff))
			sleep(ctx, backoff)
			backoff = min(backoff*2, 10*time.Second)
		}
	}
	for ctx.Err() == nil {
		jitter := time.Duration(rand.Float64()*0.2*float64(l.cfg.HeartbeatInterval)) - l.cfg.HeartbeatInterval/10
		sleep(ctx, l.cfg.HeartbeatInterval+jitter)
		if ctx.Err() != nil {
			break
		}
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := l.reg.Heartbeat(hctx, l.id)
		cancel()
		switch {
		case err == nil:
		case client.IsNotFound(err):
			l.logger.Warn("the registry no longer knows this instance; registering again")
			if err := l.register(ctx); err != nil {
				l.logger.Warn("could not register again", slog.Any("error", err))
			}
		default:
			// An outage: heartbeat again next time; when the registry is back
			// and has expired the instance, the 404 above registers again.
			l.logger.Warn("heartbeat failed", slog.Any("error", err))
		}
	}
	if l.id != "" {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := l.reg.Deregister(dctx, l.id); err != nil {
			l.logger.Warn("could not deregister", slog.Any("error", err))
		} else {
			l.logger.Info("deregistered", slog.String("id", l.id))
		}
	}
}

func (l *lifecycle) register(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	in, err := l.reg.Register(rctx, l.instance())
	if err != nil {
		return err
	}
	l.id = in.ID
	l.logger.Info("registered", slog.String("id", in.ID), slog.String("registry", l.cfg.RegistryURL),
		slog.String("addr", net.JoinHostPort(in.Host, strconv.Itoa(in.Port))))
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
