package sqlstore

// Instances: registering, reading, listing and deregistering them.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/registry"
)

const instanceColumns = `id, name, display_name, version, host, port, base_path, is_active, health,
	health_check_url, last_heartbeat, metadata, tags, undeclared_paths, resilience, created_at, updated_at`

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
		if e.RateLimit != nil {
			if bad := e.RateLimit.FieldProblems(fmt.Sprintf("endpoints[%d].rate_limit", i)); len(bad) > 0 {
				return registry.Event{}, fault.InvalidFields("Invalid endpoint.", bad)
			}
			rl, err := json.Marshal(e.RateLimit)
			if err != nil {
				return registry.Event{}, fmt.Errorf("encode rate_limit: %w", err)
			}
			endpoints[i].rateLimit = string(rl)
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
	var resilience any // NULL: the gateway's defaults
	if in.Resilience != nil {
		b, _ := json.Marshal(in.Resilience)
		resilience = string(b)
	}
	now := s.now()
	proposed := newID()
	var ev registry.Event
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `
INSERT INTO services (id, name, display_name, version, host, port, base_path, is_active, health,
	health_check_url, last_heartbeat, metadata, tags, undeclared_paths, resilience, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $9, $10, $11, $12, $13, $14, $10, $10)
ON CONFLICT (name, host, port) DO UPDATE SET
	display_name = excluded.display_name, version = excluded.version, base_path = excluded.base_path,
	is_active = TRUE, health = excluded.health, health_check_url = excluded.health_check_url,
	last_heartbeat = excluded.last_heartbeat, metadata = excluded.metadata, tags = excluded.tags,
	undeclared_paths = excluded.undeclared_paths, resilience = excluded.resilience, updated_at = excluded.updated_at
RETURNING id`,
			proposed, in.Name, in.DisplayName, in.Version, in.Host, in.Port, in.BasePath, string(in.Health),
			in.HealthCheckURL, storage.Time(now), meta, tags, string(in.UndeclaredPaths), resilience,
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
	where, args := s.where(f)
	q := `SELECT ` + instanceColumns + ` FROM services` + where + " ORDER BY name, id"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	if f.Offset > 0 {
		if f.Limit <= 0 && s.db.Dialect != storage.Postgres {
			q += " LIMIT -1" // SQLite takes no OFFSET without a LIMIT
		}
		args = append(args, f.Offset)
		q += fmt.Sprintf(" OFFSET $%d", len(args))
	}
	return s.query(ctx, s.db, q, args...)
}

// Count implements registry.Store.
func (s *Store) Count(ctx context.Context, f registry.Filter) (int, error) {
	where, args := s.where(f)
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM services`+where, args...).Scan(&n); err != nil {
		return 0, storage.Fault(err, "service instance")
	}
	return n, nil
}

// Services implements registry.Store. It reads only the columns a summary
// needs, no endpoints, and aggregates in one pass over rows sorted by name.
func (s *Store) Services(ctx context.Context, f registry.Filter) ([]registry.ServiceSummary, error) {
	where, args := s.where(f)
	rows, err := s.db.QueryContext(ctx, `SELECT name, version, health, tags, last_heartbeat FROM services`+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, storage.Fault(err, "service instance")
	}
	defer rows.Close()
	list := []registry.ServiceSummary{}
	var cur *registry.ServiceSummary
	for rows.Next() {
		var name, version, health string
		var tagsJSON []byte
		var beat time.Time
		if err := rows.Scan(&name, &version, &health, &tagsJSON, (*storage.Time)(&beat)); err != nil {
			return nil, fmt.Errorf("scan service summary: %w", err)
		}
		if cur == nil || cur.Name != name {
			list = append(list, registry.ServiceSummary{Name: name, Versions: []string{}, Tags: []string{}})
			cur = &list[len(list)-1]
		}
		cur.Instances++
		if registry.Health(health) == registry.HealthUnhealthy {
			cur.Unhealthy++
		} else {
			cur.Healthy++
		}
		if version != "" && !slices.Contains(cur.Versions, version) {
			cur.Versions = append(cur.Versions, version)
		}
		var tags []string
		if err := json.Unmarshal(tagsJSON, &tags); err != nil {
			return nil, fmt.Errorf("decode tags of %s: %w", name, err)
		}
		for _, t := range tags {
			if !slices.Contains(cur.Tags, t) {
				cur.Tags = append(cur.Tags, t)
			}
		}
		if beat.After(cur.LastHeartbeat) {
			cur.LastHeartbeat = beat
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarise services: %w", err)
	}
	for i := range list {
		slices.Sort(list[i].Versions)
		slices.Sort(list[i].Tags)
	}
	return list, nil
}

// where returns the WHERE clause (with its leading space, or "") and the
// arguments that select f's instances.
func (s *Store) where(f registry.Filter) (string, []any) {
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
	if f.NameContains != "" {
		if s.db.Dialect == storage.Postgres {
			add("strpos(name, $%d) > 0", f.NameContains)
		} else {
			add("instr(name, $%d) > 0", f.NameContains)
		}
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
	if len(where) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(where, " AND "), args
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
		var resilience sql.Null[[]byte]
		if err := rows.Scan(&in.ID, &in.Name, &in.DisplayName, &in.Version, &in.Host, &in.Port, &in.BasePath,
			&in.IsActive, &health, &in.HealthCheckURL, (*storage.Time)(&in.LastHeartbeat), &meta, &tags,
			&undeclared, &resilience, (*storage.Time)(&in.CreatedAt), (*storage.Time)(&in.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("scan service instance: %w", err)
		}
		if resilience.Valid {
			in.Resilience = new(registry.Resilience)
			if err := json.Unmarshal(resilience.V, in.Resilience); err != nil {
				return nil, fmt.Errorf("decode resilience of %s: %w", in.ID, err)
			}
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
		if rl.Valid && string(rl.V) != "null" {
			// A value stored before rate_limit had a shape, and that does not
			// fit it, is dropped: nothing ever enforced it.
			var lim registry.RateLimit
			if json.Unmarshal(rl.V, &lim) == nil && len(lim.Problems()) == 0 {
				e.RateLimit = &lim
			}
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
