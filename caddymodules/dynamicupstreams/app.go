package dynamicupstreams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/secretfile"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/client"
)

func init() {
	caddy.RegisterModule(App{})
}

// AppName is the app's ID in Caddy's config and the Caddyfile global option.
const AppName = "plugboard_registry"

// holders keeps each registry URL's last good snapshot across config
// reloads: a reload builds a new App, which starts from what the old one
// knew instead of from nothing (Caddy's sanctioned place for such state).
var holders = caddy.NewUsagePool()

type holder struct {
	snap  atomic.Pointer[Snapshot]
	rules atomic.Pointer[rulesTable]
}

// Destruct implements caddy.Destructor.
func (*holder) Destruct() error { return nil }

// App keeps a snapshot of the Plugboard registry for the gateway's routes.
type App struct {
	// Registry is the registry's base URL. Default: http://127.0.0.1:8081.
	Registry string `json:"registry,omitempty"`
	// Resync is how often the whole registry is read again, as a safety
	// net under the change feed. Default: 5m.
	Resync caddy.Duration `json:"resync,omitempty"`
	// Timeout bounds the start-up load and each resync. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// EjectFor is how long an instance that failed a proxied request (one
	// that reverse_proxy retried elsewhere) is left out of every service's
	// rotation, unless it is the last one. Default: 10s.
	EjectFor caddy.Duration `json:"eject_for,omitempty"`
	// SlowFactor and SlowFloor say when an instance that answers is too
	// slow: its response time (to the response headers, a moving average of
	// its recent requests) is above SlowFloor and more than SlowFactor times
	// that of the service's fastest instance. It is then ejected for
	// EjectFor, unless no other instance of the service is in rotation, and
	// measured afresh when it returns. Defaults: 5 and 500ms.
	SlowFactor float64        `json:"slow_factor,omitempty"`
	SlowFloor  caddy.Duration `json:"slow_floor,omitempty"`
	// Resilience holds the defaults and caps of services' upstream
	// timeouts and retries (resilience.go).
	Resilience ResilienceConfig `json:"resilience,omitzero"`
	// Core is core's base URL, whose configuration center holds the
	// services' routing rules (versions and gray release) and whose change
	// feed carries their changes, read with the feed token
	// (corefeed.TokenEnv, or corefeed.TokenFile in the data directory).
	// Empty: no routing rules; every version of a service serves.
	Core string `json:"core,omitempty"`

	holder       *holder
	client       *client.Client
	coreFeedHTTP *http.Client
	logger       *slog.Logger
	run          *appRun
}

// appRun is the app's runtime state (kept behind a pointer: Caddy copies
// module values).
type appRun struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// lastSync is the unix nano time the registry last confirmed the
	// snapshot (0: never); connected says whether the feed is open.
	lastSync  atomic.Int64
	connected atomic.Bool

	mu      sync.Mutex
	ejected map[string]time.Time     // dial → until
	latency map[string]*latencyStats // dial → recent response times
}

// latencyStats is an instance's recent response time.
type latencyStats struct {
	avg float64 // exponential moving average, nanoseconds
	n   int     // responses measured
}

// Outlier detection needs this many responses of an instance (and of the
// instance it is compared with) and weighs each new one this much.
const (
	slowMinSamples = 5
	slowWeight     = 0.2
)

// observe records that dial of svc answered in d, and ejects it for
// EjectFor when it has become a slow outlier (see SlowFactor).
func (a *App) observe(svc *Service, dial string, d time.Duration) {
	a.run.mu.Lock()
	defer a.run.mu.Unlock()
	st := a.run.latency[dial]
	if st == nil {
		st = &latencyStats{}
		a.run.latency[dial] = st
	}
	if st.n++; st.n == 1 {
		st.avg = float64(d)
	} else {
		st.avg += slowWeight * (float64(d) - st.avg)
	}
	if st.n < slowMinSamples || st.avg <= float64(a.SlowFloor) {
		return
	}
	now := time.Now()
	fastest, inRotation := -1.0, 0
	for _, other := range svc.Dials {
		if other == dial {
			continue
		}
		if until, ok := a.run.ejected[other]; ok && now.Before(until) {
			continue
		}
		inRotation++
		if o := a.run.latency[other]; o != nil && o.n >= slowMinSamples && (fastest < 0 || o.avg < fastest) {
			fastest = o.avg
		}
	}
	if inRotation == 0 || fastest < 0 || st.avg <= a.SlowFactor*fastest {
		return
	}
	a.run.ejected[dial] = now.Add(time.Duration(a.EjectFor))
	delete(a.run.latency, dial) // measured afresh when it returns
	a.logger.Warn("ejected a slow instance", slog.String("service", svc.Name), slog.String("instance", dial),
		slog.Duration("response_time", time.Duration(st.avg)), slog.Duration("fastest", time.Duration(fastest)),
		slog.Duration("for", time.Duration(a.EjectFor)))
}

// eject leaves dial out of rotation for EjectFor.
func (a *App) eject(dial string) {
	a.run.mu.Lock()
	defer a.run.mu.Unlock()
	a.run.ejected[dial] = time.Now().Add(time.Duration(a.EjectFor))
}

// isEjected reports whether dial is out of rotation now.
func (a *App) isEjected(dial string, now time.Time) bool {
	a.run.mu.Lock()
	defer a.run.mu.Unlock()
	until, ok := a.run.ejected[dial]
	if ok && !now.Before(until) {
		delete(a.run.ejected, dial)
		return false
	}
	return ok
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: AppName, New: func() caddy.Module { return new(App) }}
}

// Provision sets defaults and shares the snapshot holder.
func (a *App) Provision(ctx caddy.Context) error {
	if a.Registry == "" {
		a.Registry = "http://127.0.0.1:8081"
	}
	if a.Resync <= 0 {
		a.Resync = caddy.Duration(5 * time.Minute)
	}
	if a.Timeout <= 0 {
		a.Timeout = caddy.Duration(5 * time.Second)
	}
	a.logger = ctx.Slogger()
	switch token, source, err := registryToken(); {
	case err != nil:
		a.logger.Warn("could not read the registry token; reading the registry without it", slog.Any("error", err))
	case token == "":
		a.logger.Info("no registry token (PLUGBOARD_REGISTRY_TOKEN, data directory); reading the registry without one")
	default:
		a.logger.Debug("reading the registry with its token", slog.String("from", source))
	}
	// The token goes on every request, the change feed's too. It is read
	// again for each (a few a minute at most), so that a token file the
	// registry writes after the gateway started, or a new one, is used.
	a.client = client.New(a.Registry, "", &http.Client{Transport: bearer{
		token: func() string { t, _, _ := registryToken(); return t },
		next:  http.DefaultTransport.(*http.Transport).Clone(),
	}})
	if a.Core != "" {
		a.coreFeedHTTP = &http.Client{Transport: bearer{
			token: func() string { t, _, _ := corefeed.ReadToken(); return t },
			next:  http.DefaultTransport.(*http.Transport).Clone(),
		}}
	}
	h, _, err := holders.LoadOrNew(a.Registry, func() (caddy.Destructor, error) { return new(holder), nil })
	if err != nil {
		return err
	}
	a.holder = h.(*holder)
	if a.EjectFor <= 0 {
		a.EjectFor = caddy.Duration(10 * time.Second)
	}
	if a.SlowFactor <= 0 {
		a.SlowFactor = 5
	}
	if a.SlowFloor <= 0 {
		a.SlowFloor = caddy.Duration(500 * time.Millisecond)
	}
	if err := a.Resilience.provision(); err != nil {
		return err
	}
	a.run = &appRun{ejected: map[string]time.Time{}, latency: map[string]*latencyStats{}}
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "plugboard", Subsystem: "gateway", Name: "registry_staleness_seconds",
			Help: "Seconds since the registry last confirmed the gateway's routing snapshot; 0 while the change feed is connected.",
		}, a.Staleness))
		if err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
			return fmt.Errorf("register metric: %w", err)
		}
	}
	return nil
}

// Validate checks the configuration.
func (a *App) Validate() error {
	if a.Registry == "" {
		return errors.New("plugboard_registry: no registry URL")
	}
	if a.Core != "" {
		if u, err := url.Parse(a.Core); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("plugboard_registry: core %q is not an http(s) URL", a.Core)
		}
	}
	return nil
}

// Start loads the registry once (waiting up to Timeout; on failure it keeps
// the previous snapshot, if any, and keeps trying in the background) and
// then follows the change feed.
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.run.cancel = cancel
	st := newState()
	if prev := a.holder.snap.Load(); prev != nil {
		for name := range prev.Services {
			st.known[name] = true
		}
	}
	loadCtx, cancelLoad := context.WithTimeout(ctx, time.Duration(a.Timeout))
	err := a.load(loadCtx, st)
	cancelLoad()
	if err != nil {
		a.logger.Error("could not load the registry; routing from the last good snapshot until it answers",
			slog.String("registry", a.Registry), slog.Any("error", err))
	}
	a.run.wg.Add(1)
	go func() {
		defer a.run.wg.Done()
		a.follow(ctx, st)
	}()
	if a.Core != "" {
		// The rules too, before the first request (bounded likewise); the
		// feed's first reset loads them again.
		loadCtx, cancelLoad := context.WithTimeout(ctx, time.Duration(a.Timeout))
		if err := a.loadRules(loadCtx); err != nil {
			a.logger.Error("could not load the routing rules from core; routing by the last known ones until it answers",
				slog.String("core", a.Core), slog.Any("error", err))
		}
		cancelLoad()
		a.run.wg.Add(1)
		go func() {
			defer a.run.wg.Done()
			a.followRules(ctx)
		}()
	}
	return nil
}

// Stop ends the background work.
func (a *App) Stop() error {
	if a.run.cancel != nil {
		a.run.cancel()
	}
	a.run.wg.Wait()
	return nil
}

// Cleanup releases the shared snapshot holder.
func (a *App) Cleanup() error {
	_, err := holders.Delete(a.Registry)
	return err
}

// Snapshot returns the current snapshot (nil before the first load).
func (a *App) Snapshot() *Snapshot { return a.holder.snap.Load() }

// Staleness returns how many seconds ago the registry last confirmed the
// snapshot, or 0 while the change feed is connected.
func (a *App) Staleness() float64 {
	if a.run.connected.Load() {
		return 0
	}
	last := a.run.lastSync.Load()
	if last == 0 {
		return -1
	}
	return time.Since(time.Unix(0, last)).Seconds()
}

// load reads the whole registry (inactive instances too, to learn names).
func (a *App) load(ctx context.Context, st *state) error {
	list, rev, err := a.client.List(ctx, registry.Filter{IncludeInactive: true})
	if err != nil {
		return err
	}
	st.replace(rev, list)
	a.publish(st)
	return nil
}

func (a *App) publish(st *state) {
	a.holder.snap.Store(build(st.rev, st.active, st.known))
	a.run.lastSync.Store(time.Now().UnixNano())
}

// follow keeps st current from the change feed until ctx ends,
// reconnecting with backoff and reloading everything every Resync.
func (a *App) follow(ctx context.Context, st *state) {
	backoff := 100 * time.Millisecond
	nextResync := time.Now().Add(time.Duration(a.Resync))
	for ctx.Err() == nil {
		if st.rev < 0 || time.Now().After(nextResync) {
			loadCtx, cancel := context.WithTimeout(ctx, time.Duration(a.Timeout))
			err := a.load(loadCtx, st)
			cancel()
			if err == nil {
				nextResync = time.Now().Add(time.Duration(a.Resync))
			}
		}
		watchCtx, cancel := context.WithDeadline(ctx, nextResync)
		err := a.client.Watch(watchCtx, st.rev, func(m client.Message) error {
			a.run.connected.Store(true)
			backoff = 100 * time.Millisecond
			switch {
			case m.Kind == "snapshot":
				st.replace(m.Revision, m.Instances)
			case m.Kind == "reconnect":
				return nil
			case m.Event != nil:
				if m.Revision <= st.rev {
					return nil
				}
				st.rev = m.Revision
				st.apply(m.Event.Instance)
			}
			a.publish(st)
			return nil
		})
		cancel()
		wasConnected := a.run.connected.Swap(false)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			continue // time to resync
		}
		if wasConnected {
			a.logger.Warn("registry change feed ended; reconnecting", slog.Any("error", err))
		} else if err != nil {
			a.logger.Warn("registry change feed unreachable; routing from the last good snapshot",
				slog.Any("error", err), slog.Float64("stale_seconds", a.Staleness()))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)/2+1))):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// registryToken returns the credential the registry's reads (listing, change
// feed) need, and where it came from: PLUGBOARD_REGISTRY_TOKEN, or else
// the token the registry keeps in $PLUGBOARD_DATA_DIR/registry.token (data
// directory default ./data). It is read for each registry request (see
// Provision) and never put into the config; "" (no error) when neither is
// set, for a registry that does not require it.
func registryToken() (token, source string, err error) {
	token, source, err = secretfile.Read("PLUGBOARD_REGISTRY_TOKEN", "registry.token") // registryd.TokenFile
	if err != nil {
		return "", "", fmt.Errorf("read the registry token: %w", err)
	}
	return token, source, nil
}

// bearer sends a bearer token, when there is one, with every request.
type bearer struct {
	token func() string
	next  http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok := b.token(); tok != "" {
		r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return b.next.RoundTrip(r)
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
