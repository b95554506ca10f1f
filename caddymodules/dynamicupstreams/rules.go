package dynamicupstreams

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/registry"
)

// The services' routing rules (versions and gray release) are global
// configuration entries of core (registry.RoutingKey). The app keeps them
// in a table behind an atomic pointer (in the holder, so that a reload
// starts from what the old app knew): loaded in full from core
// (corefeed.ConfigPath) at start, on every reconnect and after every reset
// of core's change feed,
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

// followRules keeps the rules current until ctx ends: a full load, then
// core's change feed; on every reconnect (with backoff) and every reset,
// a full load again.
func (a *App) followRules(ctx context.Context) {
	backoff := 100 * time.Millisecond
	var after int64 = -1
	for ctx.Err() == nil {
		loadCtx, cancel := context.WithTimeout(ctx, time.Duration(a.Timeout))
		err := a.loadRules(loadCtx)
		cancel()
		if err != nil {
			a.logger.Warn("could not load the routing rules from core; keeping the last ones", slog.Any("error", err))
		}
		connected := false
		err = a.watchCore(ctx, after, func(frame string, data []byte) error {
			connected = true
			backoff = 100 * time.Millisecond
			switch frame {
			case corefeed.FrameReset:
				var p corefeed.Position
				if err := json.Unmarshal(data, &p); err != nil {
					return fmt.Errorf("reset frame: %w", err)
				}
				after = p.Revision
				return a.loadRules(ctx)
			case corefeed.FrameChange:
				var ev corefeed.Event
				if err := json.Unmarshal(data, &ev); err != nil {
					return fmt.Errorf("change frame: %w", err)
				}
				after = ev.Revision
				a.applyRules(&ev)
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if connected {
			a.logger.Warn("core's change feed ended; reconnecting", slog.Any("error", err))
		} else {
			a.logger.Warn("core's change feed unreachable; routing rules may lag", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)/2+1))):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// watchCore reads core's change feed from after (-1: from core's choice,
// a reset) and hands each frame to fn until the stream ends, fn fails, or
// three heartbeats' time passes without a frame.
func (a *App) watchCore(ctx context.Context, after int64, fn func(frame string, data []byte) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u := strings.TrimRight(a.Core, "/") + corefeed.Path
	if after >= 0 {
		u += "?after=" + strconv.FormatInt(after, 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := a.coreFeedHTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("core's change feed answered %s", res.Status)
	}
	silence := time.AfterFunc(3*corefeed.HeartbeatEvery, func() { cancel(errors.New("no heartbeat from core's change feed")) })
	defer silence.Stop()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var frame string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if frame != "" || data != nil {
				silence.Reset(3 * corefeed.HeartbeatEvery)
				if err := fn(frame, data); err != nil {
					return err
				}
			}
			frame, data = "", nil
		case strings.HasPrefix(line, "event:"):
			frame = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, strings.TrimPrefix(line[len("data:"):], " ")...)
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
