package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/storage"
)

// AppendAudit implements core.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, e *core.AuditEntry) error {
	e.ID, e.CreatedAt = newID(), s.now()
	details := "{}"
	if len(e.Details) > 0 && json.Valid(e.Details) {
		details = string(e.Details)
	}
	e.Details = json.RawMessage(details)
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (id, tenant_id, actor_id, actor_name, action, object_type, object_id,
	details, remote_addr, request_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.ID, e.TenantID, e.ActorID, e.ActorName, e.Action, e.ObjectType, e.ObjectID, details, e.RemoteAddr, e.RequestID, storage.Time(e.CreatedAt))
	return storage.Fault(err, "audit entry")
}

// ListAudit implements core.AuditStore.
func (s *Store) ListAudit(ctx context.Context, f core.AuditFilter) ([]*core.AuditEntry, error) {
	var q setter
	where := "TRUE"
	if f.TenantID != nil {
		where += " AND tenant_id = " + q.arg(*f.TenantID)
	}
	if f.Actor != nil {
		where += " AND (actor_id = " + q.arg(*f.Actor) + " OR actor_name = " + q.arg(*f.Actor) + ")"
	}
	if f.Action != nil {
		if prefix, ok := strings.CutSuffix(*f.Action, "*"); ok && strings.HasSuffix(prefix, ".") {
			// substr, not LIKE: no wildcard in the prefix to escape; both engines count characters.
			where += " AND substr(action, 1, " + q.arg(utf8.RuneCountInString(prefix)) + ") = " + q.arg(prefix)
		} else {
			where += " AND action = " + q.arg(*f.Action)
		}
	}
	if f.ObjectType != nil {
		where += " AND object_type = " + q.arg(*f.ObjectType)
	}
	if f.ObjectID != nil {
		where += " AND object_id = " + q.arg(*f.ObjectID)
	}
	if f.From != nil {
		where += " AND created_at >= " + q.arg(storage.Time(*f.From))
	}
	for _, t := range []*time.Time{f.To, f.Before} {
		if t != nil {
			where += " AND created_at < " + q.arg(storage.Time(*t))
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	return scanAll(ctx, s.db, "audit entry", func(r rowScanner) (*core.AuditEntry, error) {
		var e core.AuditEntry
		var details []byte
		if err := r.Scan(&e.ID, &e.TenantID, &e.ActorID, &e.ActorName, &e.Action, &e.ObjectType, &e.ObjectID, &details,
			&e.RemoteAddr, &e.RequestID, (*storage.Time)(&e.CreatedAt)); err != nil {
			return nil, fmt.Errorf("scan audit entry: %w", err)
		}
		e.Details = json.RawMessage(details)
		return &e, nil
	}, `SELECT id, tenant_id, actor_id, actor_name, action, object_type, object_id, details, remote_addr, request_id, created_at
FROM audit_log WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT `+q.arg(limit), q.args...)
}
