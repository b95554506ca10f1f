package core

import (
	"context"
	"encoding/json"
	"time"
)

// AuditEntry records one write: who did what to which object, when, and
// from where.
type AuditEntry struct {
	ID         string          `json:"id"`
	TenantID   string          `json:"tenant_id"` // "" for platform-wide objects
	ActorID    string          `json:"actor_id"`
	ActorName  string          `json:"actor_name"`
	Action     string          `json:"action"`      // e.g. "user.create"
	ObjectType string          `json:"object_type"` // e.g. "user"
	ObjectID   string          `json:"object_id"`
	Details    json.RawMessage `json:"details"`
	RemoteAddr string          `json:"remote_addr"`
	RequestID  string          `json:"request_id"`
	CreatedAt  time.Time       `json:"created_at"`
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	// TenantID, when set, keeps one tenant's entries only.
	TenantID *string
	// Actor keeps entries whose actor_id or actor_name equals it.
	Actor *string
	// Action keeps entries with this action; one ending in ".*" (such as
	// "user.*") keeps every action that starts with what precedes the "*".
	Action *string
	// ObjectType and ObjectID keep entries about that kind of object and
	// that object (each exact).
	ObjectType, ObjectID *string
	// From keeps entries created at or after it, To those created before it.
	From, To *time.Time
	// Before keeps entries created before it (for paging).
	Before *time.Time
	Limit  int // default 100, at most 1000
}

// AuditStore keeps the audit log; entries are never changed.
type AuditStore interface {
	// AppendAudit stores e, setting its ID and time.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the entries f selects, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}
