package dynamicupstreams

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/registry"
)

// The services' routing rules (versions and gray release) are global
// configuration entries of core (registry.RoutingKey). The app keeps them
// in a table behind an atomic pointer (in the holder, so that a reload
// starts from what the old app knew): loaded in full from core
// (corefeed.ConfigPath) at every reset of core's change feed (the first
// connection starts with one),
// then kept current by the feed's config events. While core is down, the
// last rules keep applying.

// rulesTable maps a service to its rules and their version (immutable).
type rulesTable map[string]rulesEntry

type rulesEntry struct {
	version int
	rules   *registry.RoutingRules // nil: deleted
}

// routing returns the service's rules, nil when it has none.
func (a *App) routing(service string) *registry.RoutingRules {
	t := a.holder.rules.Load()
	if t == nil {
		return nil
	}
	return (*t)[service].rules
}

// setRules publishes t.
func (a *App) setRules(t rulesTable) { a.holder.rules.Store(&t) }

// loadRules reads every service's routing rules from core.
func (a *App) loadRules(ctx context.Context) error {
	u := strings.TrimRight(a.Core, "/") + corefeed.ConfigPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := a.coreFeedHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("load routing rules: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("load routing rules: core answered %s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	var list []struct {
		Service string          `json:"service"`
		Key     string          `json:"key"`
		Version int             `json:"version"`
		Value   json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&list); err != nil {
		return fmt.Errorf("load routing rules: %w", err)
	}
	t := rulesTable{}
	for _, e := range list {
		if e.Key != registry.RoutingKey {
			continue
		}
		t[e.Service] = a.parseRules(e.Service, e.Version, e.Value)
	}
	a.setRules(t)
	return nil
}

// parseRules turns a stored value into an entry; core validated it, so a
// value this gateway cannot read (an older gateway, a newer field) is
// logged and the service routes as without rules.
func (a *App) parseRules(service string, version int, value json.RawMessage) rulesEntry {
	r, err := registry.ParseRoutingRules(value)
	if err != nil {
		a.logger.Error("ignoring routing rules this gateway cannot read", slog.String("service", service),
			slog.Int("version", version), slog.Any("error", err))
		return rulesEntry{version: version}
	}
	return rulesEntry{version: version, rules: r}
}

// applyRules applies one config event of core's feed; an event older than
// what the table holds (a replay after a reset) changes nothing.
func (a *App) applyRules(ev *corefeed.Event) {
	if ev.Kind != corefeed.Config || ev.Key != registry.RoutingKey {
		return
	}
	var cur rulesTable
	if t := a.holder.rules.Load(); t != nil {
		cur = *t
	}
	if old, ok := cur[ev.Service]; ok && old.version >= ev.Version {
		return
	}
	next := make(rulesTable, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	if ev.Deleted {
		next[ev.Service] = rulesEntry{version: ev.Version}
	} else {
		next[ev.Service] = a.parseRules(ev.Service, ev.Version, ev.Value)
	}
	a.setRules(next)
	a.logger.Info("routing rules changed", slog.String("service", ev.Service), slog.Int("version", ev.Version), slog.Bool("deleted", ev.Deleted))
}

// followRules keeps the rules current until ctx ends: core's change feed
// (corefeed.Follower), a full load at every reset (the first connection
// starts with one), then the config changes.
func (a *App) followRules(ctx context.Context) {
	f := corefeed.NewFollower(corefeed.FollowerConfig{
		Core:     a.Core,
		Logger:   a.logger,
		OnReset:  func(int64) { a.loadRulesRetrying(ctx) },
		OnChange: func(ev corefeed.Event) { a.applyRules(&ev) },
	})
	f.Run(ctx)
}

// loadRulesRetrying loads the rules, trying again with backoff until it
// succeeds or ctx ends; meanwhile the last rules keep applying.
func (a *App) loadRulesRetrying(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		loadCtx, cancel := context.WithTimeout(ctx, time.Duration(a.Timeout))
		err := a.loadRules(loadCtx)
		cancel()
		if err == nil {
			return
		}
		a.logger.Warn("could not load the routing rules from core; keeping the last ones", slog.Any("error", err))
		select {
		case <-ctx.Done():
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)/2+1))):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
