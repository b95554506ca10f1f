package sqlstore

// Liveness: heartbeats, expiry and health verdicts.

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/registry"
)

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
