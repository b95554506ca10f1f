// Package registry is the domain of Plugboard's service registry: service
// instances (one per registration, many per service name), their endpoints
// and health, and the Store contract that keeps them durable.
package registry

import (
	"context"
	"encoding/json"
	"time"
)

// Health is the outcome of the registry's active health checks.
type Health string

// Health states. An instance without a health_check_url stays Unknown; the
// gateway routes to Unknown and Healthy instances.
const (
	HealthUnknown   Health = "unknown"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Valid reports whether h is one of the health states.
func (h Health) Valid() bool {
	return h == HealthUnknown || h == HealthHealthy || h == HealthUnhealthy
}

// UndeclaredPaths says what the gateway does with a request to a path (or
// method) the service did not declare among its endpoints.
type UndeclaredPaths string

// UndeclaredPaths values. The zero value means UndeclaredAuthenticated.
const (
	// UndeclaredAuthenticated admits any valid identity, but never with less
	// than the service's strictest declared rule that could match the path.
	UndeclaredAuthenticated UndeclaredPaths = "authenticated"
	// UndeclaredDeny refuses requests to undeclared paths (deny by default).
	UndeclaredDeny UndeclaredPaths = "deny"
)

// Valid reports whether u is empty or one of the UndeclaredPaths values.
func (u UndeclaredPaths) Valid() bool {
	return u == "" || u == UndeclaredAuthenticated || u == UndeclaredDeny
}

// Endpoint describes one operation a service offers, and the policy the
// gateway enforces for it.
type Endpoint struct {
	// Path is relative to the service, may hold templates like /items/{id}.
	Path        string `json:"path"`
	Method      string `json:"method"`
	Description string `json:"description"`
	// RequiredRoles lists roles of which the caller needs one; empty means
	// any authenticated caller.
	RequiredRoles []string `json:"required_roles"`
	// IsPublic endpoints need no credentials at all.
	IsPublic bool `json:"is_public"`
	// RateLimit is the endpoint's rate limit, which every gateway
	// enforces (plugboard_rate_limit); nil for none.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// Instance is one registered, addressable copy of a service.
type Instance struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	DisplayName    string          `json:"display_name"`
	Version        string          `json:"version"`
	Host           string          `json:"host"`
	Port           int             `json:"port"`
	BasePath       string          `json:"base_path"`
	IsActive       bool            `json:"is_active"`
	Health         Health          `json:"health"`
	HealthCheckURL string          `json:"health_check_url"`
	LastHeartbeat  time.Time       `json:"last_heartbeat"`
	Metadata       json.RawMessage `json:"metadata"`
	Tags           []string        `json:"tags"`
	Endpoints      []Endpoint      `json:"endpoints"`
	// UndeclaredPaths is the gateway's policy for paths not in Endpoints
	// (UndeclaredAuthenticated when empty).
	UndeclaredPaths UndeclaredPaths `json:"undeclared_paths,omitempty"`
	// Resilience is the service's upstream timeout and retries (nil: the
	// gateway's defaults).
	Resilience *Resilience `json:"resilience,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// Filter selects instances in Store.List. Empty fields do not filter.
type Filter struct {
	Name    string
	Tag     string
	Version string
	// NameContains keeps the instances whose name contains it.
	NameContains string
	// IncludeInactive also returns deregistered and expired instances.
	IncludeInactive bool
	// Offset skips that many instances of the ordered list; Limit, when
	// positive, caps how many are returned. Store.List alone honours them.
	Offset, Limit int
}

// ServiceSummary aggregates the instances of one service name.
type ServiceSummary struct {
	Name string `json:"name"`
	// Instances counts the instances; Healthy those the gateway routes to
	// (health healthy or unknown), Unhealthy the others.
	Instances int `json:"instances"`
	Healthy   int `json:"healthy"`
	Unhealthy int `json:"unhealthy"`
	// Versions and Tags are the distinct values over the instances, sorted.
	Versions []string `json:"versions"`
	Tags     []string `json:"tags"`
	// LastHeartbeat is the newest heartbeat of any instance.
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// EventType says what changed in an Event.
type EventType string

// Event types.
const (
	EventRegistered   EventType = "registered"   // a new instance
	EventUpdated      EventType = "updated"      // re-registered: description replaced, reactivated
	EventDeregistered EventType = "deregistered" // the instance left on purpose
	EventExpired      EventType = "expired"      // no heartbeat for too long
	EventHealth       EventType = "health"       // the active health check changed its verdict
)

// Event is one change to one instance, in the registry's change feed.
// Revisions increase by one per event, in commit order, across replicas.
type Event struct {
	Revision int64     `json:"revision"`
	Type     EventType `json:"type"`
	// Instance is the instance's whole state after the change.
	Instance *Instance `json:"instance"`
	At       time.Time `json:"at"`
}

// Store keeps instances and their change feed durable. Every method that
// changes an instance appends its event in the same transaction. Errors are
// fault errors: not_found for an unknown id, invalid for input the schema
// rejects (such as malformed JSON).
type Store interface {
	// Register stores in. When an instance with the same name, host and port
	// exists it is updated in place (keeping its ID and creation time),
	// reactivated and its heartbeat refreshed (an EventUpdated); otherwise a
	// new instance is created (EventRegistered). It fills in's ID and
	// timestamps.
	Register(ctx context.Context, in *Instance) (Event, error)
	// Get returns the instance with id, active or not, or not_found.
	Get(ctx context.Context, id string) (*Instance, error)
	// List returns the instances f selects, ordered by name then ID, from
	// f.Offset on and at most f.Limit of them when it is positive.
	List(ctx context.Context, f Filter) ([]*Instance, error)
	// Count returns how many instances f selects, ignoring Offset and Limit.
	Count(ctx context.Context, f Filter) (int, error)
	// Services returns one summary per service name among the instances f
	// selects (ignoring Offset and Limit), ordered by name.
	Services(ctx context.Context, f Filter) ([]ServiceSummary, error)
	// Deregister marks an active instance inactive (EventDeregistered);
	// not_found for an unknown or already inactive one.
	Deregister(ctx context.Context, id string) (Event, error)
	// RecordHeartbeats moves the last heartbeat of active instances forward
	// to the given times (never back); unknown and inactive IDs are ignored.
	// It appends no events: a heartbeat changes nothing a watcher sees.
	RecordHeartbeats(ctx context.Context, beats map[string]time.Time) error
	// Expire marks inactive every active instance whose last heartbeat is
	// before cutoff (one EventExpired each).
	Expire(ctx context.Context, cutoff time.Time) ([]Event, error)
	// SetHealth records an active health check's verdict; changed is false
	// (and no event is appended) when the instance already had it. not_found
	// for an unknown id, invalid for an unknown state.
	SetHealth(ctx context.Context, id string, h Health) (ev Event, changed bool, err error)
	// Revision returns the revision of the latest event (0 before any).
	Revision(ctx context.Context) (int64, error)
	// EventsAfter returns up to limit events with revisions above after, in
	// order. complete is false when events right after after were pruned, so
	// the caller must start over from a snapshot.
	EventsAfter(ctx context.Context, after int64, limit int) (events []Event, complete bool, err error)
	// InstanceEvents returns the newest events (at most limit) of the
	// instance with id, newest first, as far back as the feed keeps them
	// (see PruneEvents); not_found for an unknown id.
	InstanceEvents(ctx context.Context, id string, limit int) ([]Event, error)
	// PruneEvents deletes all but the newest keep events.
	PruneEvents(ctx context.Context, keep int) error
}
