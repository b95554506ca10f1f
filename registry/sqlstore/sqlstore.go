// Package sqlstore implements registry.Store on the storage layer, for both
// SQLite and PostgreSQL, and applies the registry's migrations on Open.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/plugboard/plugboard/core/platform/fault"
	"github.com/plugboard/plugboard/core/platform/storage"
	"github.com/plugboard/plugboard/migrations"
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
	db, err := migrations.Open(ctx, "registry", opts)
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
	health_check_url, last_heartbeat, metadata, tags, created_at, updated_at`

// Register implements registry.Store.
func (s *Store) Register(ctx context.Context, in *registry.Instance) (bool, error) {
	meta, tags, err := encodeInstanceJSON(in)
	if err != nil {
		return false, err
	}
	endpoints := make([][3]any, len(in.Endpoints)) // roles, rate limit, public
	for i, e := range in.Endpoints {
		roles, _ := json.Marshal(nonNil(e.RequiredRoles))
		var rl any
		if len(e.RateLimit) > 0 && string(e.RateLimit) != "null" {
			if !json.Valid(e.RateLimit) {
				return false, fault.InvalidFields("Invalid endpoint.", map[string]string{fmt.Sprintf("endpoints[%d].rate_limit", i): "is not valid JSON"})
			}
			rl = string(e.RateLimit)
		}
		endpoints[i] = [3]any{string(roles), rl, e.IsPublic}
	}
	now := s.now()
	proposed := newID()
	if in.Health == "" {
		in.Health = registry.HealthUnknown
	}
	var created bool
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id string
		var createdAt time.Time
		err := tx.QueryRowContext(ctx, `
INSERT INTO services (id, name, display_name, version, host, port, base_path, is_active, health,
	health_check_url, last_heartbeat, metadata, tags, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $9, $10, $11, $12, $10, $10)
ON CONFLICT (name, host, port) DO UPDATE SET
	display_name = excluded.display_name, version = excluded.version, base_path = excluded.base_path,
	is_active = TRUE, health = excluded.health, health_check_url = excluded.health_check_url,
	last_heartbeat = excluded.last_heartbeat, metadata = excluded.metadata, tags = excluded.tags,
	updated_at = excluded.updated_at
RETURNING id, created_at`,
			proposed, in.Name, in.DisplayName, in.Version, in.Host, in.Port, in.BasePath, string(in.Health),
			in.HealthCheckURL, storage.Time(now), meta, tags,
		).Scan(&id, (*storage.Time)(&createdAt))
		if err != nil {
			return interpret(err, "service instance")
		}
		created = id == proposed
		if _, err := tx.ExecContext(ctx, `DELETE FROM service_endpoints WHERE service_id = $1`, id); err != nil {
			return interpret(err, "service instance")
		}
		for i, e := range in.Endpoints {
			_, err := tx.ExecContext(ctx, `
INSERT INTO service_endpoints (id, service_id, position, path, method, description, required_roles, is_public, rate_limit)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				newID(), id, i, e.Path, e.Method, e.Description, endpoints[i][0], endpoints[i][2], endpoints[i][1])
			if err != nil {
				if errors.Is(storage.Interpret(err), storage.ErrUnique) {
					return fault.InvalidFields("Duplicate endpoint.", map[string]string{
						fmt.Sprintf("endpoints[%d]", i): fmt.Sprintf("%s %s is listed twice", e.Method, e.Path)})
				}
				return interpret(err, "endpoint")
			}
		}
		in.ID, in.CreatedAt, in.UpdatedAt, in.LastHeartbeat, in.IsActive = id, createdAt, now, now, true
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// Get implements registry.Store.
func (s *Store) Get(ctx context.Context, id string) (*registry.Instance, error) {
	list, err := s.query(ctx, `SELECT `+instanceColumns+` FROM services WHERE id = $1`, id)
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
	return s.query(ctx, q+" ORDER BY name, id", args...)
}

// Heartbeat implements registry.Store.
func (s *Store) Heartbeat(ctx context.Context, id string, t time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE services SET last_heartbeat = $1 WHERE id = $2 AND is_active = TRUE`, storage.Time(t), id)
	return s.affected(res, err, id)
}

// Deactivate implements registry.Store.
func (s *Store) Deactivate(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE services SET is_active = FALSE, updated_at = $1 WHERE id = $2`, storage.Time(s.now()), id)
	return s.affected(res, err, id)
}

// ExpireBefore implements registry.Store.
func (s *Store) ExpireBefore(ctx context.Context, t time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE services SET is_active = FALSE, updated_at = $1
WHERE is_active = TRUE AND last_heartbeat < $2 RETURNING id`, storage.Time(s.now()), storage.Time(t))
	if err != nil {
		return nil, interpret(err, "service instance")
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("expire instances: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SetHealth implements registry.Store.
func (s *Store) SetHealth(ctx context.Context, id string, h registry.Health) error {
	switch h {
	case registry.HealthUnknown, registry.HealthPassing, registry.HealthFailing:
	default:
		return fault.InvalidFields("Invalid health state.", map[string]string{"health": fmt.Sprintf("%q is not one of unknown, passing, failing", h)})
	}
	res, err := s.db.ExecContext(ctx, `UPDATE services SET health = $1, updated_at = $2 WHERE id = $3`, string(h), storage.Time(s.now()), id)
	return s.affected(res, err, id)
}

// Delete implements registry.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM services WHERE id = $1`, id)
	return s.affected(res, err, id)
}

func (s *Store) affected(res sql.Result, err error, id string) error {
	if err != nil {
		return interpret(err, "service instance")
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("rows affected: %w", err)
	} else if n == 0 {
		return fault.Errorf(fault.NotFound, "Service instance %q not found or not active.", id)
	}
	return nil
}

// query runs an instance query and loads each instance's endpoints.
func (s *Store) query(ctx context.Context, q string, args ...any) ([]*registry.Instance, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, interpret(err, "service instance")
	}
	defer rows.Close()
	var list []*registry.Instance
	byID := map[string]*registry.Instance{}
	for rows.Next() {
		var in registry.Instance
		var health string
		var meta, tags []byte
		if err := rows.Scan(&in.ID, &in.Name, &in.DisplayName, &in.Version, &in.Host, &in.Port, &in.BasePath,
			&in.IsActive, &health, &in.HealthCheckURL, (*storage.Time)(&in.LastHeartbeat), &meta, &tags,
			(*storage.Time)(&in.CreatedAt), (*storage.Time)(&in.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("scan service instance: %w", err)
		}
		in.Health = registry.Health(health)
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
	return list, s.loadEndpoints(ctx, byID)
}

func (s *Store) loadEndpoints(ctx context.Context, byID map[string]*registry.Instance) error {
	ids := make([]any, 0, len(byID))
	marks := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
		marks = append(marks, fmt.Sprintf("$%d", len(ids)))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT service_id, path, method, description, required_roles, is_public, rate_limit
FROM service_endpoints WHERE service_id IN (`+strings.Join(marks, ",")+`) ORDER BY service_id, position`, ids...)
	if err != nil {
		return interpret(err, "endpoint")
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

// interpret turns storage errors into fault errors about what.
func interpret(err error, what string) error {
	err = storage.Interpret(err)
	switch {
	case errors.Is(err, storage.ErrUnique):
		return fault.Wrap(err, fault.Conflict, fmt.Sprintf("This %s already exists.", what))
	case errors.Is(err, storage.ErrCheck):
		return fault.Wrap(err, fault.Invalid, fmt.Sprintf("The %s has an invalid value.", what))
	case errors.Is(err, storage.ErrForeignKey):
		return fault.Wrap(err, fault.NotFound, fmt.Sprintf("The %s refers to something that does not exist.", what))
	case errors.Is(err, storage.ErrNotFound):
		return fault.Wrap(err, fault.NotFound, fmt.Sprintf("The %s was not found.", what))
	}
	return fmt.Errorf("%s: %w", what, err)
}

var _ registry.Store = (*Store)(nil)
