// Core's change feed (internal/corefeed) as Server-Sent Events, for the
// gateways: GET /api/auth/changes.

package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/changefeed"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/internal/sse"
)

// Feed is the change hub of this replica.
type Feed interface {
	Subscribe() (sub *changefeed.Sub, last int64)
}

// changesPage is how many changes a stream reads from the store at once.
const changesPage = 1000

// feedCaller checks the credential of a change feed request: the feed
// token (compared in constant time), or a super_admin's access token or
// API key (one acting as super_admin, with core:admin). It reports whether
// the credential must be verified again while the stream runs (all but
// the feed token).
func (s *Server) feedCaller(w http.ResponseWriter, r *http.Request) (recheck bool, err error) {
	kind, cred := credential.Parse(r.Header)
	switch kind {
	case credential.None:
		w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard"`)
		return false, fault.Errorf(fault.Unauthorized, "The change feed needs the feed token (Authorization: Bearer <token>) or a super_admin's credential.")
	case credential.Invalid:
		w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard", error="invalid_request"`)
		return false, fault.Errorf(fault.Unauthorized, "%s", credential.InvalidMessage)
	case credential.Bearer:
		if s.opt.FeedToken != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(s.opt.FeedToken)) == 1 {
			return false, nil
		}
	}
	c, err := s.callerOf(r.Context(), r.Header)
	if err != nil {
		if kind == credential.Bearer {
			w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard", error="invalid_token"`)
		}
		return false, err
	}
	if !rbac.CanFollowChanges(c.Subject) {
		return false, forbidden("Only the feed token or a super_admin may follow core's change feed.")
	}
	return true, nil
}

// resumeAfter is the revision a follower has applied: ?after=N, else the
// Last-Event-ID header; -1 when it names none.
func resumeAfter(r *http.Request) (int64, error) {
	q, err := httpx.Query(r)
	if err != nil {
		return 0, err
	}
	field, raw := "after", q.Get("after")
	if !q.Has("after") {
		field, raw = "Last-Event-ID", r.Header.Get("Last-Event-ID")
		if raw == "" {
			if len(r.Header.Values("Last-Event-ID")) > 0 {
				// EventSource never sends an empty one; reading it as absent
				// would silently start over.
				return 0, fault.InvalidFields("Invalid change feed request.", map[string]string{field: "must not be empty"})
			}
			return -1, nil
		}
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, fault.InvalidFields("Invalid change feed request.", map[string]string{field: "must be a non-negative revision"})
	}
	return n, nil
}

// handleChanges streams the change feed (internal/corefeed has the
// contract): the changes after the follower's revision, or a reset frame
// and every change kept when it names none or one that is no longer kept
// (or is ahead of core: another database); then every change as it
// commits, on any replica; a heartbeat with the stream's revision every
// corefeed.HeartbeatEvery. A follower that falls behind, or a hub that
// shuts down, ends the stream: the follower reconnects with the last id it
// received. A stream opened with a super_admin's credential ends as soon
// as that credential is no longer a super_admin's.
func (s *Server) handleChanges(w http.ResponseWriter, r *http.Request) {
	recheck, err := s.feedCaller(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	after, err := resumeAfter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.opt.Feed == nil {
		s.fail(w, r, fault.Errorf(fault.Unavailable, "The change feed is not running."))
		return
	}
	ctx := r.Context()
	// Subscribe before reading the store: the subscription holds what
	// commits meanwhile, and revisions drop the overlap.
	sub, _ := s.opt.Feed.Subscribe()
	defer sub.Close()

	reset := after < 0
	var first []corefeed.Event
	if !reset {
		rev, err := s.store.ChangeRevision(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		complete := false
		if after <= rev {
			if first, complete, err = s.store.ChangesAfter(ctx, after, changesPage); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		reset = !complete
	}
	if reset {
		// The revision read first is where a reset with nothing kept
		// stands: what commits after it is read below or arrives live.
		rev, err := s.store.ChangeRevision(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if first, _, err = s.store.ChangesAfter(ctx, -1, changesPage); err != nil {
			s.fail(w, r, err)
			return
		}
		after = rev
		if len(first) > 0 {
			after = first[0].Revision - 1
		}
	}

	stream, err := sse.Start(w, time.Second)
	if err != nil {
		return
	}
	if reset && stream.JSON(-1, corefeed.FrameReset, corefeed.Position{Revision: after}) != nil {
		return
	}
	sent := after
	send := func(ev corefeed.Event) bool {
		if ev.Revision <= sent {
			return true
		}
		if ev.Revision != sent+1 { // never skip one: the follower resumes
			return false
		}
		if stream.JSON(ev.Revision, corefeed.FrameChange, ev) != nil {
			return false
		}
		sent = ev.Revision
		return true
	}
	// The backlog, page by page.
	for events := first; ; {
		for _, ev := range events {
			if !send(ev) {
				return
			}
		}
		if len(events) < changesPage {
			break
		}
		var complete bool
		if events, complete, err = s.store.ChangesAfter(ctx, sent, changesPage); err != nil || !complete {
			return // pruned while read, or the store failed: the follower resumes
		}
	}
	heartbeat := func() bool {
		return stream.JSON(-1, corefeed.FrameHeartbeat, corefeed.Position{Revision: sent}) == nil && stream.Flush() == nil
	}
	if !heartbeat() {
		return
	}
	beat := time.NewTicker(corefeed.HeartbeatEvery)
	defer beat.Stop()
	var verify <-chan time.Time
	if recheck {
		t := time.NewTicker(s.opt.WatchResync)
		defer t.Stop()
		verify = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.Events():
			if !ok || !send(ev) || stream.Flush() != nil {
				return
			}
		case <-beat.C:
			if !heartbeat() {
				return
			}
		case <-verify:
			// A credential no longer a super_admin's ends the stream;
			// an outage of core's store does not.
			if _, err := s.feedCaller(w, r); fault.Is(err, fault.Unauthorized) || fault.Is(err, fault.Forbidden) {
				return
			}
		}
	}
}

// handleReservedConfig serves the global entries of the reserved keys
// (corefeed.ReservedKeyPrefix) to a change-feed follower, with the feed's
// credentials (corefeed.ConfigPath): what it loads at start and after a
// reset, since a value may be older than the changes the feed keeps.
func (s *Server) handleReservedConfig(w http.ResponseWriter, r *http.Request) {
	if _, err := s.feedCaller(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	global := ""
	s.listConfig(w, r, core.ConfigFilter{Scope: &global, Prefix: corefeed.ReservedKeyPrefix})
}
