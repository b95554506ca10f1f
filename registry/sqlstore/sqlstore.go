// Package sqlstore implements registry.Store on the storage layer, for both
// SQLite and PostgreSQL, and applies the registry's migrations on Open.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/registry"
)

// Store is a registry.Store on a SQL database.
type Store struct {
	db  *storage.DB
	now func() time.Time
}

// Open opens the database opts names, applies the registry's migrations and
// returns a Store on it. Close the Store to close the database.
func Open(ctx context.Context, opts storage.Options) (*Store, error) {
	db, err := storage.OpenService(ctx, "registry", opts)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: storage.Now}, nil
}

// DB returns the underlying database (for readiness checks).
func (s *Store) DB() *storage.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

const instanceColumns = `id, name, display_name, version, host, port, base_path, is_active, health,
	health_check_url, last_heartbeat, metadata, tags, undeclared_paths, created_at, updated_at`

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Register implements registry.Store.
func (s *Store) Register(ctx context.Context, in *registry.Instance) (registry.Event, error) {
	meta, tags, err := encodeInstanceJSON(in)
	if err != nil {
		return registry.Event{}, err
	}
	type endpointJSON struct {
		roles     string
		rateLimit any
	}
	endpoints := make([]endpointJSON, len(in.Endpoints))
	for i, e := range in.Endpoints {
		roles, _ := json.Marshal(nonNil(e.RequiredRoles))
		endpoints[i].roles = string(roles)
		if len(e.RateLimit) > 0 && string(e.RateLimit) != "null" {
			if !json.Valid(e.RateLimit) {
				return registry.Event{}, fault.InvalidFields("Invalid endpoint.", map[string]string{fmt.Sprintf("endpoints[%d].rate_limit", i): "is not valid JSON"})
			}
			endpoints[i].rateLimit = string(e.RateLimit)
		}
	}
	if in.Health == "" {
		in.Health = registry.HealthUnknown
	}
	if in.UndeclaredPaths == "" {
		in.UndeclaredPaths = registry.UndeclaredAuthenticated
	}
	if !in.UndeclaredPaths.Valid() {
		return registry.Event{}, fault.InvalidFields("Invalid service instance.", map[string]string{"undeclared_paths": "must be authenticated or deny"})
	}
	now := s.now()
	proposed := newID()
	var ev registry.Event
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `
INSERT INTO services (id, name, display_name, version, host, port, base_path, is_active, health,
	health_check_url, last_heartbeat, metadata, tags, undeclared_paths, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $9, $10, $11, $12, $13, $10, $10)
ON CONFLICT (name, host, port) DO UPDATE SET
	display_name = excluded.display_name, version = excluded.version, base_path = excluded.base_path,
	is_active = TRUE, health = excluded.health, health_check_url = excluded.health_check_url,
	last_heartbeat = excluded.last_heartbeat, metadata = excluded.metadata, tags = excluded.tags,
	undeclared_paths = excluded.undeclared_paths, updated_at = excluded.updated_at
RETURNING id`,
			proposed, in.Name, in.DisplayName, in.Version, in.Host, in.Port, in.BasePath, string(in.Health),
			in.HealthCheckURL, storage.Time(now), meta, tags, string(in.UndeclaredPaths),
		).Scan(&id)
		if err != nil {
			return storage.Fault(err, "service instance")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM service_endpoints WHERE service_id = $1`, id); err != nil {
			return storage.Fault(err, "service instance")
		}
		for i, e := range in.Endpoints {
			_, err := tx.ExecContext(ctx, `
INSERT INTO service_endpoints (id, service_id, position, path, method, description, required_roles, is_public, rate_limit)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				newID(), id, i, e.Path, e.Method, e.Description, endpoints[i].roles, e.IsPublic, endpoints[i].rateLimit)
			if err != nil {
				if errors.Is(storage.Interpret(err), storage.ErrUnique) {
					return fault.InvalidFields("Duplicate endpoint.", map[string]string{
						fmt.Sprintf("endpoints[%d]", i): fmt.Sprintf("%s %s is listed twice", e.Method, e.Path)})
				}
				return storage.Fault(err, "endpoint")
			}
		}
		typ := registry.EventUpdated
		if id == proposed {
			typ = registry.EventRegistered
		}
		ev, err = s.appendEvent(ctx, tx, typ, id, now)
		return err
	})
	if err != nil {
		return registry.Event{}, err
	}
	*in = *ev.Instance
	return ev, nil
}

// appendEvent takes the next revision and records an event carrying the
// instance's current state; tx must have made the change already.
func (s *Store) appendEvent(ctx context.Context, tx *sql.Tx, typ registry.EventType, id string, at time.Time) (registry.Event, error) {
	list, err := s.query(ctx, tx, `SELECT `+instanceColumns+` FROM services WHERE id = $1`, id)
	if err != nil {
		return registry.Event{}, err
	}
	if len(list) == 0 {
		return registry.Event{}, fault.Errorf(fault.NotFound, "Service instance %q not found.", id)
	}
	ev := registry.Event{Type: typ, Instance: list[0], At: at}
	if err := tx.QueryRowContext(ctx, `UPDATE registry_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision`).Scan(&ev.Revision); err != nil {
		return registry.Event{}, fmt.Errorf("next revision: %w", err)
	}
	body, err := json.Marshal(ev.Instance)
	if err != nil {
		return registry.Event{}, fmt.Errorf("encode event: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO registry_events (revision, type, service_id, instance, created_at) VALUES ($1, $2, $3, $4, $5)`,
		ev.Revision, string(typ), id, string(body), storage.Time(at)); err != nil {
		return registry.Event{}, fmt.Errorf("append event: %w", err)
	}
	return ev, nil
}

// Get implements registry.Store.
func (s *Store) Get(ctx context.Context, id string) (*registry.Instance, error) {
	list, err := s.query(ctx, s.db, `SELECT `+instanceColumns+` FROM services WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fault.Errorf(fault.NotFound, "Service instance %q not found.", id)
	}
	return list[0], nil
}

// List implements registry.Store.
func (s *Store) List(ctx context.Context, f registry.Filter) ([]*registry.Instance, error) {
	var where []string
	var args []any
	// add appends a condition whose %d is the placeholder number of v.
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if !f.IncludeInactive {
		where = append(where, "is_active = TRUE")
	}
	if f.Name != "" {
		add("name = $%d", f.Name)
	}
	if f.Version != "" {
		add("version = $%d", f.Version)
	}
	if f.Tag != "" {
		if s.db.Dialect == storage.Postgres {
			add("tags ? $%d", f.Tag)
		} else {
			add("EXISTS (SELECT 1 FROM json_each(tags) WHERE json_each.value = $%d)", f.Tag)
		}
	}
	q := `SELECT ` + instanceColumns + ` FROM services`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return s.query(ctx, s.db, q+" ORDER BY name, id", args...)
}

// Deregister implements registry.Store.
func (s *Store) Deregister(ctx context.Context, id string) (registry.Event, error) {
	var ev registry.Event
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, `UPDATE services SET is_active = FALSE, updated_at = $1 WHERE id = $2 AND is_active = TRUE`, storage.Time(now), id)
		if err := affected(res, err, id); err != nil {
			return err
		}
		ev, err = s.appendEvent(ctx, tx, registry.EventDeregistered, id, now)
		return err
	})
	return ev, err
}

// RecordHeartbeats implements registry.Store.
func (s *Store) RecordHeartbeats(ctx context.Context, beats map[string]time.Time) error {
	if len(beats) == 0 {
		return nil
	}
	ids := make([]string, 0, len(beats))
	for id := range beats {
		ids = append(ids, id)
	}
	sort.Strings(ids) // a fixed lock order: two flushers cannot deadlock
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			t := storage.Time(beats[id])
			if _, err := tx.ExecContext(ctx, `UPDATE services SET last_heartbeat = $1
WHERE id = $2 AND is_active = TRUE AND last_heartbeat < $1`, t, id); err != nil {
				return storage.Fault(err, "heartbeat")
			}
		}
		return nil
	})
}

// Expire implements registry.Store.
func (s *Store) Expire(ctx context.Context, cutoff time.Time) ([]registry.Event, error) {
	var events []registry.Event
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		rows, err := tx.QueryContext(ctx, `UPDATE services SET is_active = FALSE, updated_at = $1
WHERE is_active = TRUE AND last_heartbeat < $2 RETURNING id`, storage.Time(now), storage.Time(cutoff))
		if err != nil {
			return storage.Fault(err, "service instance")
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("expire instances: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("expire instances: %w", err)
		}
		sort.Strings(ids)
		for _, id := range ids {
			ev, err := s.appendEvent(ctx, tx, registry.EventExpired, id, now)
			if err != nil {
				return err
			}
			events = append(events, ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// SetHealth implements registry.Store.
func (s *Store) SetHealth(ctx context.Context, id string, h registry.Health) (registry.Event, bool, error) {
	if !h.Valid() {
		return registry.Event{}, false, fault.InvalidFields("Invalid health state.", map[string]string{"health": fmt.Sprintf("%q is not one of unknown, healthy, unhealthy", h)})
	}
	var ev registry.Event
	changed := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		var current string
		if err := tx.QueryRowContext(ctx, `SELECT health FROM services WHERE id = $1`, id).Scan(&current); err != nil {
			return storage.Fault(err, "service instance")
		}
		if current == string(h) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE services SET health = $1, updated_at = $2 WHERE id = $3`, string(h), storage.Time(now), id); err != nil {
			return storage.Fault(err, "service instance")
		}
		changed = true
		var err error
		ev, err = s.appendEvent(ctx, tx, registry.EventHealth, id, now)
		return err
	})
	return ev, changed, err
}

// Revision implements registry.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.db.QueryRowContext(ctx, `SELECT revision FROM registry_revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return rev, nil
}

// EventsAfter implements registry.Store.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]registry.Event, bool, error) {
	if limit <= 0 {
		limit = 1000
	}
	// One statement, so that the oldest kept event and the revision come
	// from the same snapshot: read apart, an event committed in between
	// would look like a pruned gap.
	var oldest sql.NullInt64
	var current int64
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT MIN(revision) FROM registry_events),
	(SELECT revision FROM registry_revision WHERE id = 1)`).Scan(&oldest, &current); err != nil {
		return nil, false, fmt.Errorf("read oldest event: %w", err)
	}
	if oldest.Valid && after+1 < oldest.Int64 {
		return nil, false, nil
	}
	if !oldest.Valid {
		// No events kept at all: complete only if the caller is up to date.
		return nil, after >= current, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT revision, type, instance, created_at FROM registry_events
WHERE revision > $1 ORDER BY revision LIMIT $2`, after, limit)
	if err != nil {
		return nil, false, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var events []registry.Event
	for rows.Next() {
		var ev registry.Event
		var typ string
		var body []byte
		if err := rows.Scan(&ev.Revision, &typ, &body, (*storage.Time)(&ev.At)); err != nil {
			return nil, false, fmt.Errorf("scan event: %w", err)
		}
		ev.Type = registry.EventType(typ)
		if err := json.Unmarshal(body, &ev.Instance); err != nil {
			return nil, false, fmt.Errorf("decode event %d: %w", ev.Revision, err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read events: %w", err)
	}
	return events, true, nil
}

// PruneEvents implements registry.Store.
func (s *Store) PruneEvents(ctx context.Context, keep int) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM registry_events WHERE revision <= (SELECT revision FROM registry_revision WHERE id = 1) - $1`, keep); err != nil {
		return fmt.Errorf("prune events: %w", err)
	}
	return nil
}

func affected(res sql.Result, err error, id string) error {
	if err != nil {
		return storage.Fault(err, "service instance")
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("rows affected: %w", err)
	} else if n == 0 {
		return fault.Errorf(fault.NotFound, "Service instance %q not found or not active.", id)
	}
	return nil
}

// query runs an instance query and loads each instance's endpoints.
func (s *Store) query(ctx context.Context, q querier, query string, args ...any) ([]*registry.Instance, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, storage.Fault(err, "service instance")
	}
	defer rows.Close()
	list := []*registry.Instance{}
	byID := map[string]*registry.Instance{}
	for rows.Next() {
		var in registry.Instance
		var health, undeclared string
		var meta, tags []byte
		if err := rows.Scan(&in.ID, &in.Name, &in.DisplayName, &in.Version, &in.Host, &in.Port, &in.BasePath,
			&in.IsActive, &health, &in.HealthCheckURL, (*storage.Time)(&in.LastHeartbeat), &meta, &tags,
			&undeclared, (*storage.Time)(&in.CreatedAt), (*storage.Time)(&in.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("scan service instance: %w", err)
		}
		in.Health = registry.Health(health)
		in.UndeclaredPaths = registry.UndeclaredPaths(undeclared)
		in.Metadata = json.RawMessage(meta)
		if err := json.Unmarshal(tags, &in.Tags); err != nil {
			return nil, fmt.Errorf("decode tags of %s: %w", in.ID, err)
		}
		in.Endpoints = []registry.Endpoint{}
		list = append(list, &in)
		byID[in.ID] = &in
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list service instances: %w", err)
	}
	rows.Close()
	if len(list) == 0 {
		return list, nil
	}
	return list, s.loadEndpoints(ctx, q, byID)
}

func (s *Store) loadEndpoints(ctx context.Context, q querier, byID map[string]*registry.Instance) error {
	ids := make([]any, 0, len(byID))
	marks := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
		marks = append(marks, fmt.Sprintf("$%d", len(ids)))
	}
	rows, err := q.QueryContext(ctx, `SELECT service_id, path, method, description, required_roles, is_public, rate_limit
FROM service_endpoints WHERE service_id IN (`+strings.Join(marks, ",")+`) ORDER BY service_id, position`, ids...)
	if err != nil {
		return storage.Fault(err, "endpoint")
	}
	defer rows.Close()
	for rows.Next() {
		var sid string
		var e registry.Endpoint
		var roles []byte
		var rl sql.Null[[]byte]
		if err := rows.Scan(&sid, &e.Path, &e.Method, &e.Description, &roles, &e.IsPublic, &rl); err != nil {
			return fmt.Errorf("scan endpoint: %w", err)
		}
		if err := json.Unmarshal(roles, &e.RequiredRoles); err != nil {
			return fmt.Errorf("decode required_roles: %w", err)
		}
		if rl.Valid {
			e.RateLimit = json.RawMessage(rl.V)
		}
		in := byID[sid]
		in.Endpoints = append(in.Endpoints, e)
	}
	return rows.Err()
}

func encodeInstanceJSON(in *registry.Instance) (meta, tags string, err error) {
	meta = "{}"
	if m := strings.TrimSpace(string(in.Metadata)); m != "" && m != "null" {
		var obj map[string]json.RawMessage
		if !json.Valid(in.Metadata) || json.Unmarshal(in.Metadata, &obj) != nil {
			return "", "", fault.InvalidFields("Invalid metadata.", map[string]string{"metadata": "must be a JSON object"})
		}
		meta = string(in.Metadata)
	}
	b, _ := json.Marshal(nonNil(in.Tags))
	return meta, string(b), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

var _ registry.Store = (*Store)(nil)
