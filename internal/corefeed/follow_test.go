package corefeed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// script is a core whose n-th connection writes frames[n] (then holds the
// stream open until the test ends, or closes it when hold is false).
type script struct {
	mu      sync.Mutex
	frames  [][]string
	hold    []bool
	resumed []string // Last-Event-ID of each connection
	auth    []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.resumed)
	s.resumed = append(s.resumed, r.Header.Get("Last-Event-ID"))
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	var frames []string
	hold := true
	if n < len(s.frames) {
		frames, hold = s.frames[n], s.hold[n]
	}
	s.mu.Unlock()
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, f := range frames {
		io.WriteString(w, f)
	}
	w.(http.Flusher).Flush()
	if hold {
		<-r.Context().Done()
	}
}

func change(rev int64, kind Kind) string {
	b, _ := json.Marshal(Event{Revision: rev, Kind: kind, UserID: fmt.Sprint("u", rev)})
	return fmt.Sprintf("id: %d\nevent: change\ndata: %s\n\n", rev, b)
}

func reset(rev int64) string { return fmt.Sprintf("event: reset\ndata: {\"revision\": %d}\n\n", rev) }

func TestFollowerResumesAfterAGap(t *testing.T) {
	s := &script{
		frames: [][]string{
			{reset(0), change(1, UserRevoked), change(2, SessionRevoked), change(4, UserRevoked)}, // 3 is missing
			{change(2, SessionRevoked), change(3, TenantRevoked), change(4, UserRevoked), ": comment\n\n", "event: future\ndata: {}\n\n", "event: heartbeat\ndata: {\"revision\": 4}\n\n"},
		},
		hold: []bool{false, true},
	}
	core := httptest.NewServer(s)
	t.Cleanup(core.Close)
	var mu sync.Mutex
	var got []int64
	resets := 0
	f := NewFollower(FollowerConfig{
		Core:     core.URL,
		Token:    func() string { return "feed-token" },
		OnReset:  func(int64) { mu.Lock(); resets++; mu.Unlock() },
		OnChange: func(e Event) { mu.Lock(); got = append(got, e.Revision); mu.Unlock() },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if f.StaleFor(time.Now()) < 0 {
		t.Fatal("negative staleness")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 5*time.Second, func() bool { return f.Revision() == 4 && f.Latest() == 4 }, "never reached revision 4")
	mu.Lock()
	defer mu.Unlock()
	if want := []int64{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v (in order, none skipped, none twice)", got, want)
	}
	if resets != 1 {
		t.Errorf("%d resets, want 1", resets)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if want := []string{"", "2"}; !slices.Equal(s.resumed[:2], want) {
		t.Errorf("Last-Event-ID %q, want %q", s.resumed, want)
	}
	if s.auth[0] != "Bearer feed-token" {
		t.Errorf("Authorization %q", s.auth[0])
	}
	if st := f.StaleFor(time.Now()); st != 0 {
		t.Errorf("staleness %v while connected", st)
	}
}

func TestFollowerStaleness(t *testing.T) {
	core := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	t.Cleanup(core.Close)
	now := time.Now()
	clock := func() time.Time { return now }
	f := NewFollower(FollowerConfig{Core: core.URL, Now: clock, Token: func() string { return "" }})
	if st := f.StaleFor(now.Add(time.Minute)); st != time.Minute {
		t.Errorf("never connected: staleness %v, want 1m (since start)", st)
	}
	// A connected follower that hears nothing for three heartbeats is stale.
	f.connected.Store(true)
	if st := f.StaleFor(now.Add(HeartbeatEvery)); st != 0 {
		t.Errorf("connected, heard 2s ago: %v", st)
	}
	if st := f.StaleFor(now.Add(4 * HeartbeatEvery)); st != 4*HeartbeatEvery {
		t.Errorf("connected, silent: %v", st)
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PLUGBOARD_DATA_DIR", dir)
	t.Setenv(TokenEnv, "")
	if tok, _, err := ReadToken(); tok != "" || err != nil {
		t.Fatalf("no token: %q %v", tok, err)
	}
	if err := os.WriteFile(dir+"/"+TokenFile, []byte(" from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := ReadToken(); tok != "from-file" {
		t.Errorf("file: %q", tok)
	}
	t.Setenv(TokenEnv, "from-env")
	if tok, src, _ := ReadToken(); tok != "from-env" || src != TokenEnv {
		t.Errorf("env: %q %q", tok, src)
	}
}
