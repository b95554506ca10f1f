package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/internal/sse"
	"github.com/plugboard/plugboard/registry"
)

// snapshot is the first message of a watch that cannot resume: every
// active instance as of revision (and possibly slightly later changes,
// which the events that follow repeat).
type snapshot struct {
	Revision  int64                `json:"revision"`
	Instances []*registry.Instance `json:"instances"`
}

// handleWatch streams the change feed as Server-Sent Events. A client that
// passes the revision it has seen (?revision=N or the Last-Event-ID header,
// which EventSource sends by itself on reconnect) receives the events after
// it; one that passes none, or whose revision is too old, receives a
// "snapshot" event first. Every event's id is its revision. A "reconnect"
// event asks the client to reconnect (the server is stopping, the client
// fell behind, or its API key or access token is due to be verified again).
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request) {
	from := int64(-1)
	q, err := httpx.Query(r)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	raw := q.Get("revision")
	if raw == "" {
		raw = r.Header.Get("Last-Event-ID")
		if raw == "" && len(r.Header.Values("Last-Event-ID")) > 0 {
			// EventSource never sends an empty one; reading it as absent
			// would silently start over from a snapshot.
			httpx.WriteError(w, r, s.logger, fault.InvalidFields("Invalid watch request.", map[string]string{"Last-Event-ID": "must not be empty"}))
			return
		}
	}
	if raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			httpx.WriteError(w, r, s.logger, fault.InvalidFields("Invalid watch request.", map[string]string{"revision": "must be a non-negative integer"}))
			return
		}
		from = n
	}
	sub, _ := s.feed.Subscribe()
	defer sub.Close()

	// Catch up from the store before going live; the subscription already
	// buffers what happens meanwhile, and sent filters the overlap.
	var backlog []registry.Event
	var snap *snapshot
	if from >= 0 {
		// A revision from the future (a database that was reset, another
		// deployment) cannot be resumed from: start over.
		if rev, err := s.store.Revision(r.Context()); err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		} else if from > rev {
			from = -1
		}
	}
	if from >= 0 {
		events, complete, err := s.store.EventsAfter(r.Context(), from, 10000)
		if err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
		if complete && len(events) < 10000 {
			backlog = events
		} else {
			from = -1
		}
	}
	sent := from
	if from < 0 {
		rev, err := s.store.Revision(r.Context())
		if err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
		list, err := s.store.List(r.Context(), registry.Filter{})
		if err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
		snap, sent = &snapshot{Revision: rev, Instances: list}, rev
	}

	stream, err := sse.Start(w, time.Second)
	if err != nil {
		return
	}
	if snap != nil {
		if stream.JSON(snap.Revision, "snapshot", snap) != nil {
			return
		}
	}
	for _, ev := range backlog {
		if stream.JSON(ev.Revision, string(ev.Type), ev) != nil {
			return
		}
		sent = ev.Revision
	}
	if stream.Flush() != nil {
		return
	}
	keepAlive := time.NewTicker(s.opt.KeepAlive)
	defer keepAlive.Stop()
	var recheck <-chan time.Time
	if v, _ := r.Context().Value(recheckKey{}).(bool); v {
		// A revoked key or a logged-out user must not follow the feed
		// forever: reconnecting verifies the credential again.
		t := time.NewTimer(s.opt.Recheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-recheck:
			_ = stream.Reconnect(fmt.Appendf(nil, `{"revision":%d}`, sent))
			return
		case ev, ok := <-sub.Events():
			if !ok {
				_ = stream.Reconnect(fmt.Appendf(nil, `{"revision":%d}`, sent))
				return
			}
			if ev.Revision <= sent {
				continue
			}
			if stream.JSON(ev.Revision, string(ev.Type), ev) != nil || stream.Flush() != nil {
				return
			}
			sent = ev.Revision
		case <-keepAlive.C:
			if stream.KeepAlive() != nil {
				return
			}
		}
	}
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
