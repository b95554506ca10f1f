package corefeed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/plugboard/plugboard/internal/secretfile"
)

// ReadToken returns the feed token and where it came from: TokenEnv, or
// else TokenFile under $PLUGBOARD_DATA_DIR (default ./data). It is ""
// (no error) when neither is set.
func ReadToken() (token, source string, err error) {
	return secretfile.Read(TokenEnv, TokenFile)
}

// Backoff bounds of a follower's reconnects.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	// Core is core's base URL (required).
	Core string
	// OnReset is called for a reset frame: the consumer drops every
	// cached decision; the events core still keeps follow.
	OnReset func(revision int64)
	// OnChange is called for each change, in revision order, never twice
	// for one revision within a connection and never with one skipped.
	// A consumer ignores the kinds it does not need.
	OnChange func(Event)
	// Token returns the feed token, called at each connect. Default:
	// ReadToken.
	Token func() string
	// Transport carries the stream. Default: a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Logger logs when the feed is lost and when it returns. Default:
	// slog.Default()
	Logger *slog.Logger
	// Now is the clock frames are stamped with (see StaleFor). Default:
	// time.Now
	Now func() time.Time
}

// Follower follows core's change feed: it connects to Path, resumes after
// the last revision it applied (Last-Event-ID), hands frames to its
// callbacks in order, and reconnects with backoff (100ms to 5s) whenever
// the stream ends, goes silent for three heartbeats or skips a revision.
// Callbacks run on the follower's goroutine, one at a time.
type Follower struct {
	cfg    FollowerConfig
	url    string
	client *http.Client

	revision  atomic.Int64 // last change applied (0: none since the last reset)
	latest    atomic.Int64 // core's latest revision, as last heard
	lastFrame atomic.Int64 // unix nanos of the last frame (the start before any)
	connected atomic.Bool
	started   atomic.Bool
}

// NewFollower returns a follower; Run starts it.
func NewFollower(cfg FollowerConfig) *Follower {
	if cfg.Token == nil {
		cfg.Token = func() string { t, _, _ := ReadToken(); return t }
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnReset == nil {
		cfg.OnReset = func(int64) {}
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(Event) {}
	}
	f := &Follower{cfg: cfg, url: strings.TrimRight(cfg.Core, "/") + Path,
		client: &http.Client{Transport: cfg.Transport}} // no timeout: the stream is long-lived
	f.lastFrame.Store(cfg.Now().UnixNano())
	return f
}

// Revision returns the last revision applied: the last change handed to
// OnChange, or the revision a reset said the kept events continue from;
// 0 before any.
func (f *Follower) Revision() int64 { return f.revision.Load() }

// Latest returns core's latest revision as last heard (heartbeats and
// changes).
func (f *Follower) Latest() int64 { return f.latest.Load() }

// silence is how long a stream may carry no frame before it is treated as
// down.
const silence = 3 * HeartbeatEvery

// StaleFor returns how long the follower has been out of touch at now: 0
// while it is connected and heard a frame within three heartbeats, else
// the time since the last frame (since NewFollower before any). It costs
// two atomic loads.
func (f *Follower) StaleFor(now time.Time) time.Duration {
	since := now.Sub(time.Unix(0, f.lastFrame.Load()))
	if f.connected.Load() && since < silence {
		return 0
	}
	return max(since, 0)
}

// Staleness is StaleFor(now) in seconds, for a gauge.
func (f *Follower) Staleness() float64 { return f.StaleFor(f.cfg.Now()).Seconds() }

// errGap is a change frame whose revision is not the next one.
var errGap = errors.New("the change feed skipped a revision")

// Run follows the feed until ctx is done. Call it once.
func (f *Follower) Run(ctx context.Context) {
	if f.started.Swap(true) {
		panic("corefeed: Follower.Run called twice")
	}
	backoff, lostLogged := minBackoff, false
	for ctx.Err() == nil {
		heard, err := f.connect(ctx)
		f.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if heard {
			backoff, lostLogged = minBackoff, false
		}
		if !lostLogged {
			lostLogged = true
			f.cfg.Logger.Warn("core's change feed is lost; deciding from caches until it returns",
				slog.String("core", f.cfg.Core), slog.Int64("revision", f.Revision()),
				slog.Float64("stale_seconds", f.Staleness()), slog.Any("error", err))
		}
		t := time.NewTimer(backoff + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// connect follows one stream until it ends; heard reports whether any
// frame arrived.
func (f *Follower) connect(ctx context.Context) (heard bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			f.cfg.Logger.Error("core feed consumer panicked", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("consumer panicked: %v", v)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, fmt.Errorf("feed request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if rev := f.revision.Load(); rev > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(rev, 10))
	}
	if tok := f.cfg.Token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	// A stream silent for three heartbeats is dead: cancel it.
	watchdog := time.AfterFunc(silence, cancel)
	defer watchdog.Stop()
	resp, err := f.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("connect to the feed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("connect to the feed: core answered %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var event, data string
	reset := f.revision.Load() > 0 // the position is known: resuming, or after this stream's reset
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "event":
				event = value
			case "data":
				if data != "" {
					data += "\n"
				}
				data += value
			}
			continue
		}
		if event == "" && data == "" {
			continue
		}
		watchdog.Reset(silence)
		if err := f.frame(event, data, &reset); err != nil {
			return true, err
		}
		heard = true
		event, data = "", ""
	}
	if err := sc.Err(); err != nil {
		return heard, fmt.Errorf("read the feed: %w", err)
	}
	return heard, errors.New("core ended the feed")
}

// frame handles one frame.
func (f *Follower) frame(event, data string, reset *bool) error {
	now := f.cfg.Now()
	switch event {
	case FrameReset:
		var p Position
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return fmt.Errorf("decode a reset frame: %w", err)
		}
		// The kept events continue from p.Revision: a resume from there
		// gets them again.
		f.revision.Store(p.Revision)
		f.latest.Store(max(f.latest.Load(), p.Revision))
		*reset = true
		f.cfg.OnReset(p.Revision)
	case FrameHeartbeat:
		var p Position
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return fmt.Errorf("decode a heartbeat frame: %w", err)
		}
		f.latest.Store(max(f.latest.Load(), p.Revision))
	case FrameChange:
		var e Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("decode a change frame: %w", err)
		}
		last := f.revision.Load()
		switch {
		case last == 0 && !*reset:
			// A first stream that starts with a change, no reset: what
			// came before is unknown, so treat it as one.
			f.cfg.OnReset(0)
		case e.Revision <= last:
			return nil // applied already: a resume that overlaps
		case e.Revision != last+1:
			return fmt.Errorf("%w: after %d came %d", errGap, last, e.Revision)
		}
		*reset = true
		f.cfg.OnChange(e)
		f.revision.Store(e.Revision)
		f.latest.Store(max(f.latest.Load(), e.Revision))
	default:
		return nil // a frame this follower does not know
	}
	prev := time.Unix(0, f.lastFrame.Swap(now.UnixNano()))
	if !f.connected.Swap(true) {
		f.cfg.Logger.Info("core's change feed is connected", slog.Float64("was_stale_seconds", now.Sub(prev).Seconds()),
			slog.String("core", f.cfg.Core), slog.Int64("revision", f.Revision()), slog.Int64("core_revision", f.Latest()))
	}
	return nil
}
