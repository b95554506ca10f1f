// The configuration center's handlers (/api/config): entries, their
// history, diffs and rollbacks. The watch stream is in config_watch.go.

package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/internal/udiff"
)

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

// accessibleScope is the scope r addresses (configScope) once the caller
// may read it, and write it when write is set (configAccess).
func accessibleScope(r *http.Request, write bool) (string, error) {
	c := CallerOf(r.Context())
	scope, err := configScope(r, c)
	if err != nil {
		return "", err
	}
	return scope, configAccess(c, scope, write)
}

// target resolves and authorises the entry a request addresses; actions
// are the path suffixes the route accepts after the key.
func (s *Server) target(r *http.Request, write bool, actions ...string) (configTarget, error) {
	scope, err := accessibleScope(r, write)
	if err != nil {
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
	scope, err := accessibleScope(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	s.listConfig(w, r, core.ConfigFilter{Scope: &scope, Service: q.Get("service"), Prefix: q.Get("prefix")})
}

// listConfig answers with the entries f selects.
func (s *Server) listConfig(w http.ResponseWriter, r *http.Request, f core.ConfigFilter) {
	list, err := s.store.ListConfig(r.Context(), f)
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
		writeEntry(w, http.StatusOK, e)
	}
}

// writeTarget is the entry a write (PUT, DELETE, …/rollback) addresses and
// the version its precondition expects (expectedVersion).
func (s *Server) writeTarget(r *http.Request, actions ...string) (configTarget, *int, error) {
	t, err := s.target(r, true, actions...)
	if err == nil && len(actions) > 0 && t.action == "" {
		err = fault.Errorf(fault.NotFound, "No such endpoint: %s %s (did you mean …/%s?).", r.Method, r.URL.Path, actions[0])
	}
	if err == nil && strings.HasPrefix(t.key, corefeed.ReservedKeyPrefix) && !rbac.CanWriteReservedConfig(CallerOf(r.Context()).Subject) {
		err = forbidden(fmt.Sprintf("Configuration keys starting with %q are the platform's own: only a super_admin may change them.",
			corefeed.ReservedKeyPrefix))
	}
	if err != nil {
		return configTarget{}, nil, err
	}
	expect, err := expectedVersion(r)
	return t, expect, err
}

// checkReserved runs the check of a reserved key's value, if it has one.
func (s *Server) checkReserved(t configTarget, value json.RawMessage) error {
	check := s.opt.ReservedValidators[t.key]
	if check == nil || !strings.HasPrefix(t.key, corefeed.ReservedKeyPrefix) {
		return nil
	}
	if err := check(value); err != nil {
		fields := fault.Fields(err) // a check naming the value's own fields (value.weights.v2, …)
		if len(fields) == 0 {
			fields = map[string]string{"value": err.Error()}
		}
		return fault.InvalidFields(fmt.Sprintf("Invalid value for %s.", t.key), fields)
	}
	return nil
}

// writeEntry answers with entry e and its ETag.
func writeEntry(w http.ResponseWriter, status int, e *core.ConfigEntry) {
	w.Header().Set("ETag", etag(e.Version))
	writeRawJSON(w, status, entryJSON(e))
}

func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	t, expect, err := s.writeTarget(r)
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
	if len(req.Value) > 0 && json.Valid(req.Value) {
		if err := s.checkReserved(t, req.Value); err != nil {
			s.fail(w, r, err)
			return
		}
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
	writeEntry(w, status, e)
}

func (s *Server) handleDeleteConfig(w http.ResponseWriter, r *http.Request) {
	t, expect, err := s.writeTarget(r)
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
	t, expect, err := s.writeTarget(r, "rollback")
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
	if err := s.checkReserved(t, old.Value); err != nil {
		s.fail(w, r, err)
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
	writeEntry(w, http.StatusOK, e)
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
	diff := udiff.Unified(prettyLines(older), prettyLines(newer), fmt.Sprintf("%s v%d", name, from), fmt.Sprintf("%s v%d", name, to))
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
