package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/rbac"
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
	// diffContext is the number of unchanged lines around each diff hunk.
	diffContext = 3
	// maxDiffCells bounds the LCS table of a diff (lines × lines, after the
	// common head and tail are set aside); larger changes are shown as one
	// replaced block.
	maxDiffCells = 4 << 20
)

// configRoutes mounts the configuration center (/api/config).
//
// Keys may contain "/", so an entry's path is /api/config/{service}/ and
// then the whole key. On GET, a path ending in /history or /diff asks for
// the history or a diff of the key before it; on POST, /rollback rolls it
// back. A key whose last segment is "history" or "diff" is read with its
// slash encoded (a%2Fhistory).
func (s *Server) configRoutes(r chi.Router) {
	r.Route("/api/config", func(r chi.Router) {
		r.Get("/", s.handleListConfig)
		r.Get("/watch", s.handleWatchConfig)
		r.Get("/{service}/*", s.handleReadConfig)
		r.Put("/{service}/*", s.handlePutConfig)
		r.Delete("/{service}/*", s.handleDeleteConfig)
		r.Post("/{service}/*", s.handleRollbackConfig)
	})
}

// configTarget is the entry a request addresses.
type configTarget struct {
	scope   string // "" for global, else a tenant ID
	service string
	key     string
	action  string // "" for the entry itself, or one of the actions allowed
}

func (t configTarget) objectID() string { return t.service + "/" + t.key }

// configScope resolves ?scope=global|tenant&tenant_id= to a store scope:
// "" for global, else a tenant ID, the caller's when none is named.
func configScope(r *http.Request, c *Caller) (string, error) {
	// Every configuration route resolves its scope first: this refuses
	// empty query values for all of them.
	q, err := httpx.Query(r)
	if err != nil {
		return "", err
	}
	tenantID := q.Get("tenant_id")
	switch q.Get("scope") {
	case "global":
		if tenantID != "" {
			return "", fault.InvalidFields("Invalid configuration scope.", map[string]string{"tenant_id": "must be empty with scope=global"})
		}
		return "", nil
	case "", "tenant":
		if tenantID == "" {
			tenantID = c.TenantID
		}
		if tenantID == "" {
			return "", fault.InvalidFields("Invalid configuration scope.", map[string]string{"tenant_id": "is required"})
		}
		return tenantID, nil
	}
	return "", fault.InvalidFields("Invalid configuration scope.", map[string]string{"scope": "must be global or tenant"})
}

// configAccess checks that the caller may read scope, and write it when
// write is set. A scope the caller may not read is not found: tenant
// admins never learn about other tenants.
func configAccess(c *Caller, scope string, write bool) error {
	if !rbac.CanReadConfig(c.Subject, scope) {
		return notFound("Tenant", scope)
	}
	if write && !rbac.CanWriteConfig(c.Subject, scope) {
		if scope == "" {
			return forbidden("Only a super_admin may change the global configuration.")
		}
		return forbidden("Changing a tenant's configuration needs the tenant_admin role.")
	}
	return nil
}

// target resolves and authorises the entry a request addresses; actions
// are the path suffixes the route accepts after the key.
func (s *Server) target(r *http.Request, write bool, actions ...string) (configTarget, error) {
	c := CallerOf(r.Context())
	scope, err := configScope(r, c)
	if err != nil {
		return configTarget{}, err
	}
	if err := configAccess(c, scope, write); err != nil {
		return configTarget{}, err
	}
	t := configTarget{scope: scope, service: chi.URLParam(r, "service"), key: chi.URLParam(r, "*")}
	for _, a := range actions {
		if k, ok := strings.CutSuffix(t.key, "/"+a); ok {
			t.key, t.action = k, a
			break
		}
	}
	// chi routes on the escaped path when it differs from the decoded one
	// (a %2F in a key): decode each part after splitting off the action.
	if r.URL.RawPath != "" {
		svc, err1 := url.PathUnescape(t.service)
		key, err2 := url.PathUnescape(t.key)
		if err1 != nil || err2 != nil {
			return configTarget{}, fault.Errorf(fault.Invalid, "The path is not correctly percent-encoded.")
		}
		t.service, t.key = svc, key
	}
	return t, core.ValidateConfigAddress(t.scope, t.service, t.key)
}

func author(r *http.Request) core.Author {
	c := CallerOf(r.Context())
	return core.Author{ID: c.UserID, Name: c.Username}
}

func (s *Server) handleListConfig(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	scope, err := configScope(r, c)
	if err == nil {
		err = configAccess(c, scope, false)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	list, err := s.store.ListConfig(r.Context(), core.ConfigFilter{Scope: &scope, Service: q.Get("service"), Prefix: q.Get("prefix")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([][]byte, len(list))
	for i, e := range list {
		items[i] = entryJSON(e)
	}
	writeRawJSON(w, http.StatusOK, jsonArray(items))
}

// handleReadConfig serves an entry, its history (…/history) or a diff of
// two of its versions (…/diff).
func (s *Server) handleReadConfig(w http.ResponseWriter, r *http.Request) {
	t, err := s.target(r, false, "history", "diff")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch t.action {
	case "history":
		s.configHistory(w, r, t)
	case "diff":
		s.configDiff(w, r, t)
	default:
		e, err := s.store.GetConfig(r.Context(), t.scope, t.service, t.key)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("ETag", etag(e.Version))
		writeRawJSON(w, http.StatusOK, entryJSON(e))
	}
}

func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	t, err := s.target(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	expect, err := expectedVersion(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct {
		// Value is kept raw: its bytes are stored as sent.
		Value   json.RawMessage `json:"value"`
		Comment string          `json:"comment"`
	}
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	e, err := s.store.PutConfig(r.Context(), &core.ConfigEntry{Scope: t.scope, Service: t.service, Key: t.key, Value: req.Value},
		expect, author(r), req.Comment)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.configWritten(r, "config.put", t, e, false, map[string]any{"version": e.Version, "comment": req.Comment})
	status := http.StatusOK
	if e.Created {
		status = http.StatusCreated
		loc := r.URL.EscapedPath()
		if r.URL.RawQuery != "" { // the scope parameters
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
	}
	w.Header().Set("ETag", etag(e.Version))
	writeRawJSON(w, status, entryJSON(e))
}

func (s *Server) handleDeleteConfig(w http.ResponseWriter, r *http.Request) {
	t, err := s.target(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	expect, err := expectedVersion(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e, err := s.store.DeleteConfig(r.Context(), t.scope, t.service, t.key, expect, author(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.configWritten(r, "config.delete", t, e, true, map[string]any{"version": e.Version, "comment": ""})
	w.WriteHeader(http.StatusNoContent)
}

// handleRollbackConfig writes the value of an earlier version as a new
// version (…/rollback).
func (s *Server) handleRollbackConfig(w http.ResponseWriter, r *http.Request) {
	t, err := s.target(r, true, "rollback")
	if err == nil && t.action != "rollback" {
		err = fault.Errorf(fault.NotFound, "No such endpoint: POST %s (did you mean …/rollback?).", r.URL.Path)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	expect, err := expectedVersion(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct {
		Version int     `json:"version"`
		Comment *string `json:"comment" nullable:"true"`
	}
	if err := httpx.Decode(w, r, s.opt.MaxBody, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Version < 1 {
		s.fail(w, r, fault.InvalidFields("Invalid rollback.", map[string]string{"version": "must be the version to roll back to (1 or more)"}))
		return
	}
	old, err := s.store.ConfigVersionAt(r.Context(), t.scope, t.service, t.key, req.Version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if old.Deleted {
		s.fail(w, r, fault.InvalidFields("Invalid rollback.", map[string]string{"version": "deleted the entry and has no value; pick another version"}))
		return
	}
	comment := fmt.Sprintf("Rollback to version %d.", req.Version)
	if req.Comment != nil {
		comment = *req.Comment
	}
	e, err := s.store.PutConfig(r.Context(), &core.ConfigEntry{Scope: t.scope, Service: t.service, Key: t.key, Value: old.Value},
		expect, author(r), comment)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.configWritten(r, "config.rollback", t, e, false,
		map[string]any{"version": e.Version, "comment": comment, "rolled_back_to": req.Version})
	w.Header().Set("ETag", etag(e.Version))
	writeRawJSON(w, http.StatusOK, entryJSON(e))
}

func (s *Server) configHistory(w http.ResponseWriter, r *http.Request, t configTarget) {
	list, err := s.store.ConfigHistory(r.Context(), t.scope, t.service, t.key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([][]byte, len(list))
	for i, v := range list {
		items[i] = versionJSON(v)
	}
	writeRawJSON(w, http.StatusOK, jsonArray(items))
}

// configDiff compares two versions: ?from=N&to=M, to defaulting to the
// latest version and from to the one before to.
func (s *Server) configDiff(w http.ResponseWriter, r *http.Request, t configTarget) {
	q := r.URL.Query()
	p := map[string]string{}
	number := func(name string) int {
		raw := q.Get(name)
		if raw == "" {
			return 0
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			p[name] = "must be a version number (1 or more)"
		}
		return n
	}
	from, to := number("from"), number("to")
	if len(p) > 0 {
		s.fail(w, r, fault.InvalidFields("Invalid diff request.", p))
		return
	}
	ctx := r.Context()
	if to == 0 {
		h, err := s.store.ConfigHistory(ctx, t.scope, t.service, t.key)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		to = h[0].Version
	}
	if from == 0 {
		if from = to - 1; from < 1 {
			s.fail(w, r, fault.InvalidFields("Invalid diff request.", map[string]string{"from": "is required: version 1 has no version before it"}))
			return
		}
	}
	older, err := s.store.ConfigVersionAt(ctx, t.scope, t.service, t.key, from)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	newer, err := s.store.ConfigVersionAt(ctx, t.scope, t.service, t.key, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := t.objectID()
	diff := unifiedDiff(prettyLines(older), prettyLines(newer), fmt.Sprintf("%s v%d", name, from), fmt.Sprintf("%s v%d", name, to))
	var o jsonObject
	o.field("from", from)
	o.field("to", to)
	o.raw("old", older.Value)
	o.raw("new", newer.Value)
	o.field("old_deleted", older.Deleted)
	o.field("new_deleted", newer.Deleted)
	o.field("diff", diff)
	writeRawJSON(w, http.StatusOK, o.bytes())
}

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
	var o jsonObject
	o.field("scope", ch.Scope)
	o.field("service", ch.Service)
	o.field("key", ch.Key)
	o.field("version", ch.Version)
	o.field("deleted", ch.Deleted)
	o.raw("value", ch.Value)
	return o.bytes()
}

// view is how the API shows ch: scope as global or tenant.
func (ch configChange) view() []byte {
	var o jsonObject
	scopeFields(&o, ch.Scope)
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
	c := CallerOf(r.Context())
	scope, err := configScope(r, c)
	if err == nil {
		err = configAccess(c, scope, false)
	}
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
	resyncEvery := s.opt.WatchResync
	if resyncEvery <= 0 {
		resyncEvery = 5 * time.Second
	}
	resync := time.NewTicker(resyncEvery)
	defer resync.Stop()
	for {
		select {
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

// expectedVersion reads a write's precondition: If-Match with one version
// ("3" or 3) expects that version; If-None-Match: * expects no entry (0);
// neither expects nothing (nil).
func expectedVersion(r *http.Request) (*int, error) {
	if err := httpx.NonEmptyHeaders(r, "If-Match", "If-None-Match"); err != nil {
		return nil, err
	}
	match, noneMatch := strings.TrimSpace(r.Header.Get("If-Match")), strings.TrimSpace(r.Header.Get("If-None-Match"))
	switch {
	case match != "" && noneMatch != "":
		return nil, fault.Errorf(fault.Invalid, "Send If-Match or If-None-Match, not both.")
	case noneMatch == "*":
		zero := 0
		return &zero, nil
	case noneMatch != "":
		return nil, fault.Errorf(fault.Invalid, "If-None-Match supports only *, to create an entry that must not exist yet.")
	case match != "":
		raw := match
		if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
			raw = raw[1 : len(raw)-1]
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || strings.HasPrefix(raw, "+") {
			return nil, fault.Errorf(fault.Invalid, "If-Match must be one version, as the ETag gives it, such as \"3\".")
		}
		return &n, nil
	}
	return nil, nil
}

func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// scopeFields adds how the API shows a store scope: scope "global" or
// "tenant", and tenant_id ("" when global).
func scopeFields(o *jsonObject, scope string) {
	if scope == "" {
		o.field("scope", "global")
	} else {
		o.field("scope", "tenant")
	}
	o.field("tenant_id", scope)
}

func entryJSON(e *core.ConfigEntry) []byte {
	var o jsonObject
	scopeFields(&o, e.Scope)
	o.field("service", e.Service)
	o.field("key", e.Key)
	o.raw("value", e.Value)
	o.field("version", e.Version)
	o.field("created_at", e.CreatedAt)
	o.field("updated_at", e.UpdatedAt)
	o.field("updated_by", e.UpdatedBy)
	return o.bytes()
}

func versionJSON(v *core.ConfigVersion) []byte {
	var o jsonObject
	o.field("version", v.Version)
	o.field("deleted", v.Deleted)
	o.raw("value", v.Value)
	o.field("author", v.Author)
	o.field("comment", v.Comment)
	o.field("created_at", v.CreatedAt)
	return o.bytes()
}

// jsonObject builds a JSON object field by field. encoding/json compacts
// and re-escapes whatever a json.Marshaler returns, which would change a
// configuration value's bytes; raw fields are appended verbatim instead.
type jsonObject struct {
	b []byte
}

// field adds a field encoded by encoding/json.
func (o *jsonObject) field(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only the types above are passed: cannot happen
		panic(fmt.Sprintf("encode %s: %v", name, err))
	}
	o.raw(name, b)
}

// raw adds a field holding valid JSON text, verbatim; empty text is null.
func (o *jsonObject) raw(name string, v []byte) {
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	key, _ := json.Marshal(name)
	o.b = append(append(o.b, key...), ':')
	if len(v) == 0 {
		v = []byte("null")
	}
	o.b = append(o.b, v...)
}

func (o *jsonObject) bytes() []byte {
	if len(o.b) == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}

func jsonArray(items [][]byte) []byte {
	return append(append([]byte{'['}, bytes.Join(items, []byte{','})...), ']')
}

func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// prettyLines is a version's value indented by two spaces, one string per
// line; a deleting version has no lines.
func prettyLines(v *core.ConfigVersion) []string {
	if v.Deleted {
		return nil
	}
	var b bytes.Buffer
	if err := json.Indent(&b, v.Value, "", "  "); err != nil {
		return strings.Split(string(v.Value), "\n") // stored values are valid JSON: cannot happen
	}
	return strings.Split(b.String(), "\n")
}

// diffOp is one line of a diff: ' ' kept, '-' removed, '+' added.
type diffOp struct {
	kind byte
	line string
}

// lineDiff aligns a and b by a longest common subsequence of lines,
// removals before additions.
func lineDiff(a, b []string) []diffOp {
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	ops := make([]diffOp, 0, len(a)+len(b)-head-tail)
	for _, l := range a[:head] {
		ops = append(ops, diffOp{' ', l})
	}
	ops = append(ops, lcs(a[head:len(a)-tail], b[head:len(b)-tail])...)
	for _, l := range a[len(a)-tail:] {
		ops = append(ops, diffOp{' ', l})
	}
	return ops
}

func lcs(a, b []string) []diffOp {
	n, m := len(a), len(b)
	var ops []diffOp
	if n*m > maxDiffCells {
		for _, l := range a {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range b {
			ops = append(ops, diffOp{'+', l})
		}
		return ops
	}
	// l[i*w+j] is the length of an LCS of a[i:] and b[j:].
	w := m + 1
	l := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i*w+j] = l[(i+1)*w+j+1] + 1
			} else {
				l[i*w+j] = max(l[(i+1)*w+j], l[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i, j = i+1, j+1
		case l[(i+1)*w+j] >= l[i*w+j+1]:
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, diffOp{'-', a[i]})
	}
	for ; j < m; j++ {
		ops = append(ops, diffOp{'+', b[j]})
	}
	return ops
}

// unifiedDiff renders the line diff of a and b in unified format with
// diffContext lines of context, or "" when they are equal.
func unifiedDiff(a, b []string, nameA, nameB string) string {
	ops := lineDiff(a, b)
	// oldAt[k], newAt[k]: lines of a and b before ops[k].
	oldAt, newAt := make([]int, len(ops)+1), make([]int, len(ops)+1)
	for k, op := range ops {
		oldAt[k+1], newAt[k+1] = oldAt[k], newAt[k]
		if op.kind != '+' {
			oldAt[k+1]++
		}
		if op.kind != '-' {
			newAt[k+1]++
		}
	}
	var out strings.Builder
	for k := 0; k < len(ops); {
		for k < len(ops) && ops[k].kind == ' ' {
			k++
		}
		if k == len(ops) {
			break
		}
		start, end := max(0, k-diffContext), k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*diffContext {
				end = min(end+diffContext, len(ops))
				break
			}
			end = run
		}
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(oldAt[start], oldAt[end]-oldAt[start]), hunkRange(newAt[start], newAt[end]-newAt[start]))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.line)
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}

// hunkRange is a unified diff range: first line (1-based; the line before
// for an empty range) and count.
func hunkRange(before, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", before)
	}
	return fmt.Sprintf("%d,%d", before+1, count)
}
