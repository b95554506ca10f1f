package httpapi

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/registry"
)

// Paging bounds of the catalog, the paged service list and instance events.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// page reads limit (1..maxLimit, def when absent; 0 means no cap) and
// offset (0 or more) from q.
func page(q url.Values, def int) (limit, offset int, err error) {
	bad := map[string]string{}
	limit = def
	if v := q.Get("limit"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > maxLimit {
			bad["limit"] = "must be a whole number from 1 to " + strconv.Itoa(maxLimit)
		} else {
			limit = n
		}
	}
	if v := q.Get("offset"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			bad["offset"] = "must be a whole number, 0 or more"
		} else {
			offset = n
		}
	}
	if len(bad) > 0 {
		return 0, 0, fault.InvalidFields("Invalid query.", bad)
	}
	return limit, offset, nil
}

// catalogPage is the body of GET /api/registry/catalog.
type catalogPage struct {
	Items    []registry.ServiceSummary `json:"items"`
	Total    int                       `json:"total"`
	Limit    int                       `json:"limit"`
	Offset   int                       `json:"offset"`
	Revision int64                     `json:"revision"`
}

// catalogOrder returns the comparison of the catalog's sort key by
// (ascending, ties by name), or nil for an unknown key.
func catalogOrder(by string) func(a, b registry.ServiceSummary) int {
	var key func(a, b registry.ServiceSummary) int
	switch by {
	case "health": // the lowest share of healthy instances first
		key = func(a, b registry.ServiceSummary) int {
			return cmp.Compare(a.Healthy*b.Instances, b.Healthy*a.Instances)
		}
	case "instances":
		key = func(a, b registry.ServiceSummary) int { return cmp.Compare(a.Instances, b.Instances) }
	case "name":
		key = func(a, b registry.ServiceSummary) int { return 0 }
	default:
		return nil
	}
	return func(a, b registry.ServiceSummary) int { return cmp.Or(key(a, b), cmp.Compare(a.Name, b.Name)) }
}

// handleCatalog answers one summary per service name, filtered, sorted and
// paged: the console's services table.
func (s *Server) handleCatalog(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	bad := map[string]string{}
	by := catalogOrder(cmp.Or(q.Get("sort"), "health"))
	if by == nil {
		bad["sort"] = "must be health, name or instances"
	}
	desc := false
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		desc = true
	default:
		bad["order"] = "must be asc or desc"
	}
	limit, offset, err := page(q, defaultLimit)
	if err != nil {
		for k, v := range fault.Fields(err) {
			bad[k] = v
		}
	}
	if len(bad) > 0 {
		httpx.WriteError(w, r, s.logger, fault.InvalidFields("Invalid query.", bad))
		return
	}
	rev, err := s.store.Revision(r.Context())
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list, err := s.store.Services(r.Context(), registry.Filter{NameContains: q.Get("q"), Tag: q.Get("tag"), Version: q.Get("version")})
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	slices.SortFunc(list, func(a, b registry.ServiceSummary) int {
		if desc {
			return by(b, a)
		}
		return by(a, b)
	})
	start := min(offset, len(list))
	end := start + min(limit, len(list)-start) // offset+limit could overflow
	out := catalogPage{Items: list[start:end], Total: len(list), Limit: limit, Offset: offset, Revision: rev}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// instanceEvent is one entry of an instance's history: what changed, and
// the state it left the instance in.
type instanceEvent struct {
	Revision int64              `json:"revision"`
	Type     registry.EventType `json:"type"`
	At       time.Time          `json:"at"`
	Health   registry.Health    `json:"health"`
	IsActive bool               `json:"is_active"`
	Version  string             `json:"version"`
}

// handleInstanceEvents answers an instance's newest change-feed events,
// newest first: its registration, health and liveness history.
func (s *Server) handleInstanceEvents(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if q.Has("offset") {
		httpx.WriteError(w, r, s.logger, fault.InvalidFields("Invalid query.", map[string]string{"offset": "is not supported here"}))
		return
	}
	limit, _, err := page(q, defaultLimit)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	events, err := s.store.InstanceEvents(r.Context(), chi.URLParam(r, "service_id"), limit)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	items := make([]instanceEvent, len(events))
	for i, ev := range events {
		items[i] = instanceEvent{Revision: ev.Revision, Type: ev.Type, At: ev.At, Health: ev.Instance.Health, IsActive: ev.Instance.IsActive, Version: ev.Instance.Version}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}
