package sqlstore

// The change feed: appending, reading and pruning events.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/registry"
)

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
	events, err := scanEvents(rows)
	if err != nil {
		return nil, false, err
	}
	if len(events) == 0 {
		events = nil
	}
	return events, true, nil
}

// InstanceEvents implements registry.Store.
func (s *Store) InstanceEvents(ctx context.Context, id string, limit int) ([]registry.Event, error) {
	if limit <= 0 {
		limit = 50
	}
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT revision, type, instance, created_at FROM registry_events
WHERE service_id = $1 ORDER BY revision DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("read events of %s: %w", id, err)
	}
	return scanEvents(rows)
}

// scanEvents reads rows of revision, type, instance and created_at, and
// closes them.
func scanEvents(rows *sql.Rows) ([]registry.Event, error) {
	defer rows.Close()
	events := []registry.Event{}
	for rows.Next() {
		var ev registry.Event
		var typ string
		var body []byte
		if err := rows.Scan(&ev.Revision, &typ, &body, (*storage.Time)(&ev.At)); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		ev.Type = registry.EventType(typ)
		if err := json.Unmarshal(body, &ev.Instance); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", ev.Revision, err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return events, nil
}

// PruneEvents implements registry.Store.
func (s *Store) PruneEvents(ctx context.Context, keep int) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM registry_events WHERE revision <= (SELECT revision FROM registry_revision WHERE id = 1) - $1`, keep); err != nil {
		return fmt.Errorf("prune events: %w", err)
	}
	return nil
}
