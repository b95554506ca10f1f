package sqlstore

// The change feed (core.ChangeStore): appending an event inside the
// transaction of its change, reading and pruning events.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/storage"
)

// OnChange sets the function called, after the commit, with the latest
// revision of each write that appended changes (core's change hub
// announces it to every replica). Set it before the store is shared; it
// must not block.
func (s *Store) OnChange(f func(revision int64)) { s.onChange.Store(&f) }

// changeLog appends the events of one write transaction.
type changeLog struct {
	s    *Store
	tx   *sql.Tx
	last int64 // revision of the latest event appended, 0 for none
}

// changePayload is what an event holds beyond its revision, kind, time,
// IDs and value (the payload column; the value has a column of its own, as
// encoding it within would not keep its bytes).
type changePayload struct {
	Services []string `json:"services,omitempty"`
	Service  string   `json:"service,omitempty"`
	Key      string   `json:"key,omitempty"`
	Version  int      `json:"version,omitempty"`
	Deleted  bool     `json:"deleted,omitempty"`
}

// append takes the next revision and records ev, stamped now: the
// revision row stays locked until the transaction ends, so the next
// writer's revision and time come after this one's.
func (l *changeLog) append(ctx context.Context, ev corefeed.Event) error {
	if err := l.tx.QueryRowContext(ctx, `UPDATE core_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision`).
		Scan(&ev.Revision); err != nil {
		return fmt.Errorf("next change revision: %w", err)
	}
	ev.At = l.s.now()
	body, err := json.Marshal(changePayload{Services: ev.Services, Service: ev.Service, Key: ev.Key, Version: ev.Version,
		Deleted: ev.Deleted})
	if err != nil {
		return fmt.Errorf("encode change: %w", err)
	}
	var value any
	if ev.Value != nil {
		value = string(ev.Value)
	}
	if _, err := l.tx.ExecContext(ctx, `INSERT INTO core_changes (revision, kind, at, tenant_id, user_id, session_id, key_id, payload, value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, ev.Revision, string(ev.Kind), storage.Time(ev.At), ev.TenantID, ev.UserID,
		ev.SessionID, ev.KeyID, string(body), value); err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	l.last = ev.Revision
	return nil
}

// write runs fn in a transaction with a change log, and announces the
// changes it appended once they are committed.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx, log *changeLog) error) error {
	log := &changeLog{s: s}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		log.tx, log.last = tx, 0
		return fn(tx, log)
	})
	if err == nil && log.last > 0 {
		if f := s.onChange.Load(); f != nil {
			(*f)(log.last)
		}
	}
	return err
}

// ChangeRevision implements core.ChangeStore.
func (s *Store) ChangeRevision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.db.QueryRowContext(ctx, `SELECT revision FROM core_revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, storage.Fault(err, "change revision")
	}
	return rev, nil
}

// ChangesAfter implements core.ChangeStore.
func (s *Store) ChangesAfter(ctx context.Context, after int64, limit int) ([]corefeed.Event, bool, error) {
	if limit <= 0 {
		limit = 1000
	}
	if after >= 0 {
		// One statement, so that the oldest kept change and the revision
		// come from one snapshot: read apart, a change committed in
		// between would look like a pruned gap.
		var oldest sql.NullInt64
		var current int64
		if err := s.db.QueryRowContext(ctx, `SELECT (SELECT MIN(revision) FROM core_changes),
	(SELECT revision FROM core_revision WHERE id = 1)`).Scan(&oldest, &current); err != nil {
			return nil, false, storage.Fault(err, "change")
		}
		if (oldest.Valid && after+1 < oldest.Int64) || (!oldest.Valid && after < current) {
			return nil, false, nil
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT revision, kind, at, tenant_id, user_id, session_id, key_id, payload, value
FROM core_changes WHERE revision > $1 ORDER BY revision LIMIT $2`, after, limit)
	if err != nil {
		return nil, false, storage.Fault(err, "change")
	}
	defer rows.Close()
	var list []corefeed.Event
	for rows.Next() {
		var ev corefeed.Event
		var kind string
		var body []byte
		var value sql.Null[string]
		if err := rows.Scan(&ev.Revision, &kind, (*storage.Time)(&ev.At), &ev.TenantID, &ev.UserID, &ev.SessionID, &ev.KeyID, &body, &value); err != nil {
			return nil, false, fmt.Errorf("scan change: %w", err)
		}
		var p changePayload
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, false, fmt.Errorf("decode change %d: %w", ev.Revision, err)
		}
		ev.Kind = corefeed.Kind(kind)
		ev.Services, ev.Service, ev.Key, ev.Version, ev.Deleted = p.Services, p.Service, p.Key, p.Version, p.Deleted
		if value.Valid {
			ev.Value = json.RawMessage(value.V)
		}
		list = append(list, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read changes: %w", err)
	}
	return list, true, nil
}

// PruneChanges implements core.ChangeStore. It deletes up to the latest
// revision made before before, so that a change stamped out of order (two
// replicas' clocks) never leaves a gap.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM core_changes
WHERE revision <= (SELECT COALESCE(MAX(revision), 0) FROM core_changes WHERE at < $1)`, storage.Time(before))
	if err != nil {
		return 0, storage.Fault(err, "change")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	return int(n), nil
}
