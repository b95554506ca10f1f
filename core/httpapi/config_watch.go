// The configuration center's change notifications: what a committed
// write publishes, and the Server-Sent Events watch that streams them.

package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/internal/sse"
)

const (
	// configChannel is the Options.Changes channel committed configuration
	// writes are published on.
	configChannel = "config"
	// configKeepAlive is how often an idle watch stream gets a comment, so
	// that proxies keep it open.
	configKeepAlive = 15 * time.Second
)

// configWritten records a committed write: an audit entry (details never
// hold the value, which may be a secret) and a change notification.
func (s *Server) configWritten(r *http.Request, action string, t configTarget, e *core.ConfigEntry, deleted bool, details map[string]any) {
	s.audit(r, t.scope, action, "config", t.objectID(), details)
	if s.opt.Changes == nil {
		return
	}
	ch := configChange{Scope: t.scope, Service: t.service, Key: t.key, Version: e.Version, Deleted: deleted, Value: e.Value}
	// The write is committed: publish even if the client has gone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	if err := s.opt.Changes.Publish(ctx, configChannel, ch.encode()); err != nil {
		s.logger.WarnContext(ctx, "could not publish a configuration change", slog.String("request_id", httpx.RequestID(ctx)),
			slog.String("object", t.objectID()), slog.Any("error", err))
	}
}

// configChange is a committed write as published on Options.Changes.
type configChange struct {
	Scope   string          `json:"scope"` // "" for global, else a tenant ID
	Service string          `json:"service"`
	Key     string          `json:"key"`
	Version int             `json:"version"`
	Deleted bool            `json:"deleted"`
	Value   json.RawMessage `json:"value"`
}

// encode writes ch with its value verbatim (json.Unmarshal into
// json.RawMessage reads it back byte for byte).
func (ch configChange) encode() []byte {
	return ch.object(func(o *jsonObject) { o.field("scope", ch.Scope) })
}

// view is how the API shows ch: scope as global or tenant.
func (ch configChange) view() []byte {
	return ch.object(func(o *jsonObject) { scopeFields(o, ch.Scope) })
}

// object writes ch's fields after what scope writes.
func (ch configChange) object(scope func(*jsonObject)) []byte {
	var o jsonObject
	scope(&o)
	o.field("service", ch.Service)
	o.field("key", ch.Key)
	o.field("version", ch.Version)
	o.field("deleted", ch.Deleted)
	o.raw("value", ch.Value)
	return o.bytes()
}

// handleWatchConfig streams a scope's configuration (optionally one
// service's) as Server-Sent Events: first a "snapshot" event with the
// current entries, then a "change" event for every committed write, from
// any replica sharing Options.Changes. Notifications are at most once: a
// client that reconnects (a "reconnect" event asks it to) starts over from
// a new snapshot, and uses versions to skip what it has seen.
func (s *Server) handleWatchConfig(w http.ResponseWriter, r *http.Request) {
	scope, err := accessibleScope(r, false)
	filter := core.ConfigFilter{Scope: &scope, Service: r.URL.Query().Get("service")}
	if err == nil {
		err = filter.Validate()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Subscribe before reading the snapshot, so that no write falls in
	// between; versions drop the overlap.
	var messages <-chan []byte
	if s.opt.Changes != nil {
		sub, err := s.opt.Changes.Subscribe(r.Context(), configChannel)
		if err != nil {
			s.fail(w, r, fault.Wrap(err, fault.Unavailable, "Configuration change notifications are unavailable; try again later."))
			return
		}
		defer sub.Close()
		messages = sub.Messages()
	}
	service := filter.Service
	list, err := s.store.ListConfig(r.Context(), filter)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seen := make(map[[2]string]int, len(list)) // latest version sent, by (service, key)
	deleted := map[[2]string]bool{}            // keys whose latest version sent is a delete
	items := make([][]byte, len(list))
	for i, e := range list {
		seen[[2]string{e.Service, e.Key}] = e.Version
		items[i] = entryJSON(e)
	}
	var snap jsonObject
	scopeFields(&snap, scope)
	snap.field("service", service)
	snap.raw("entries", jsonArray(items))

	stream, err := sse.Start(w, time.Second)
	if err != nil {
		return
	}
	if stream.Event("", "snapshot", snap.bytes()) != nil || stream.Flush() != nil {
		return
	}
	keepAlive := time.NewTicker(configKeepAlive)
	defer keepAlive.Stop()
	resync := time.NewTicker(s.opt.WatchResync)
	defer resync.Stop()
	// Core's change feed says at once when the caller's account, session
	// or key changed: the caller is verified again then, not only at the
	// next resync.
	var revocations <-chan corefeed.Event
	if s.opt.Feed != nil {
		sub, _ := s.opt.Feed.Subscribe()
		defer sub.Close()
		revocations = sub.Events()
	}
	caller := CallerOf(r.Context())
	for {
		select {
		case ev, ok := <-revocations:
			if !ok {
				revocations = nil // cut off: the resync still checks
				continue
			}
			if concerns(ev, caller) && !s.stillAllowed(r, scope) {
				_ = stream.Reconnect([]byte("{}"))
				return
			}
		case <-r.Context().Done():
			return
		case payload, ok := <-messages:
			if !ok {
				_ = stream.Reconnect([]byte("{}"))
				return
			}
			var ch configChange
			if err := json.Unmarshal(payload, &ch); err != nil {
				s.logger.WarnContext(r.Context(), "bad configuration change notification", slog.Any("error", err))
				continue
			}
			id := [2]string{ch.Service, ch.Key}
			if ch.Scope != scope || (service != "" && ch.Service != service) || ch.Version <= seen[id] {
				continue
			}
			seen[id] = ch.Version
			deleted[id] = ch.Deleted
			if stream.Event("", "change", ch.view()) != nil || stream.Flush() != nil {
				return
			}
		case <-resync.C:
			// A caller who lost the right to this scope (deactivated user
			// or tenant, revoked key, changed role) must not follow it:
			// end the stream; the reconnect is refused. Infrastructure
			// errors (core's database down) keep the stream.
			if !s.stillAllowed(r, scope) {
				_ = stream.Reconnect([]byte("{}"))
				return
			}
			// Pub/sub is at most once: a notification lost while Redis was
			// down would leave the client on an old value for good. Compare
			// with the database; on any difference, ask the client to
			// reconnect (it re-reads a snapshot).
			if s.missedChange(r.Context(), filter, seen, deleted) {
				_ = stream.Reconnect([]byte("{}"))
				return
			}
		case <-keepAlive.C:
			if stream.KeepAlive() != nil {
				return
			}
		}
	}
}

// concerns reports whether ev may change what c is allowed to do.
func concerns(ev corefeed.Event, c *Caller) bool {
	if c == nil {
		return false
	}
	switch ev.Kind {
	case corefeed.SessionRevoked:
		return ev.SessionID != "" && ev.SessionID == c.SessionID
	case corefeed.UserRevoked:
		return ev.UserID == c.UserID
	case corefeed.TenantRevoked, corefeed.TenantChanged:
		return ev.TenantID == c.TenantID
	case corefeed.APIKeyRevoked, corefeed.APIKeyChanged:
		return ev.KeyID != "" && ev.KeyID == c.APIKeyID
	}
	return false
}

// stillAllowed reports whether the watch's caller, verified again now, may
// still read scope. An error that is not about the credential (the store
// unavailable) counts as allowed: the next resync asks again.
func (s *Server) stillAllowed(r *http.Request, scope string) bool {
	c, err := s.callerOf(r.Context(), r.Header)
	if err != nil {
		return !fault.Is(err, fault.Unauthorized) && !fault.Is(err, fault.Forbidden) && !fault.Is(err, fault.NotFound)
	}
	return configAccess(c, scope, false) == nil
}

// missedChange reports whether the entries filter selects differ from what
// a watch has sent: a newer version, a key it has not sent, or a key it
// sent that is gone without a delete it sent. A store error is logged and
// taken as no difference (the next resync looks again).
func (s *Server) missedChange(ctx context.Context, filter core.ConfigFilter, seen map[[2]string]int, deleted map[[2]string]bool) bool {
	list, err := s.store.ListConfig(ctx, filter)
	if err != nil {
		s.logger.WarnContext(ctx, "configuration watch could not resync", slog.Any("error", err))
		return false
	}
	present := make(map[[2]string]bool, len(list))
	for _, e := range list {
		id := [2]string{e.Service, e.Key}
		present[id] = true
		if e.Version > seen[id] {
			return true
		}
	}
	for id := range seen {
		if !present[id] && !deleted[id] {
			return true
		}
	}
	return false
}
