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

// Health states. An instance without a health_check_url stays Unknown.
const (
	HealthUnknown Health = "unknown"
	HealthPassing Health = "passing"
	HealthFailing Health = "failing"
)

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
	// RateLimit is the service's own rate limit configuration, kept as given.
	RateLimit json.RawMessage `json:"rate_limit,omitempty"`
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
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// Filter selects instances in Store.List. Empty fields do not filter.
type Filter struct {
	Name    string
	Tag     string
	Version string
	// IncludeInactive also returns deregistered and expired instances.
	IncludeInactive bool
}

// Store keeps instances durable. Errors are fault errors: not_found for an
// unknown id, invalid for input the schema rejects (such as malformed JSON),
// conflict for a write that would break a uniqueness rule.
type Store interface {
	// Register stores in. When an instance with the same name, host and port
	// exists it is updated in place (keeping its ID and creation time),
	// reactivated and its heartbeat refreshed; otherwise a new instance is
	// created. It fills in's ID and timestamps and reports whether it created.
	Register(ctx context.Context, in *Instance) (created bool, err error)
	// Get returns the instance with id, active or not, or not_found.
	Get(ctx context.Context, id string) (*Instance, error)
	// List returns the instances f selects, ordered by name then ID.
	List(ctx context.Context, f Filter) ([]*Instance, error)
	// Heartbeat records a heartbeat at t for an active instance; not_found
	// for an unknown or inactive one.
	Heartbeat(ctx context.Context, id string, t time.Time) error
	// Deactivate marks an instance inactive (deregistered or expired);
	// not_found for an unknown id. Deactivating twice is not an error.
	Deactivate(ctx context.Context, id string) error
	// ExpireBefore deactivates every active instance whose last heartbeat is
	// before t and returns their IDs.
	ExpireBefore(ctx context.Context, t time.Time) ([]string, error)
	// SetHealth records the outcome of an active health check; not_found for
	// an unknown id.
	SetHealth(ctx context.Context, id string, h Health) error
	// Delete removes an instance and its endpoints for good; not_found for an
	// unknown id.
	Delete(ctx context.Context, id string) error
}
