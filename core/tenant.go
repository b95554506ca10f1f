package core

import (
	"context"
	"encoding/json"
	"time"

	"github.com/plugboard/plugboard/registry"
)

// Tenant is one customer of the platform: an isolated set of users, API keys,
// configuration and enabled services.
type Tenant struct {
	ID string `json:"id"`
	// Name is the tenant's unique, stable handle: ASCII letters, digits and
	// . _ - @ +, stored lower-case (NormalizeHandle).
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	// Config is the tenant's free-form configuration, a JSON object. Empty or
	// null is stored as {}.
	Config json.RawMessage `json:"config"`
	// EnabledServices names the registry services the tenant may call.
	EnabledServices []string `json:"enabled_services"`
	// RateLimit is the tenant's quota, which every gateway enforces on
	// all its callers' requests together (key tenant); nil for none. Only
	// a super_admin sets it.
	RateLimit *registry.RateLimit `json:"rate_limit"`
	IsActive  bool                `json:"is_active"`
	CreatedAt time.Time           `json:"created_at"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// Validate reports, as a fault.Invalid error naming each bad field, whether t
// can be stored. It does not look at ID or timestamps, which the store sets.
func (t *Tenant) Validate() error {
	p := problems{}
	p.handle("name", t.Name)
	p.text("display_name", t.DisplayName)
	p.jsonObject("config", t.Config)
	p.list("enabled_services", t.EnabledServices)
	return p.err("Invalid tenant.")
}

// TenantUpdate holds the tenant fields to change; nil fields stay as they are.
type TenantUpdate struct {
	DisplayName     *string
	Config          *json.RawMessage
	EnabledServices *[]string
	IsActive        *bool
	// SetRateLimit replaces the quota with RateLimit (nil: none).
	SetRateLimit bool
	RateLimit    *registry.RateLimit
}

// Validate reports, as a fault.Invalid error naming each bad field, whether u
// can be applied.
func (u TenantUpdate) Validate() error {
	p := problems{}
	if u.DisplayName != nil {
		p.text("display_name", *u.DisplayName)
	}
	if u.Config != nil {
		p.jsonObject("config", *u.Config)
	}
	if u.EnabledServices != nil {
		p.list("enabled_services", *u.EnabledServices)
	}
	if u.SetRateLimit && u.RateLimit != nil {
		p.rateLimit("rate_limit", u.RateLimit)
	}
	return p.err("Invalid tenant update.")
}

// ValidateServiceName reports, as a fault.Invalid error naming field,
// whether name can be among a tenant's enabled services (the rule
// enabled_services entries follow).
func ValidateServiceName(field, name string) error {
	p := problems{}
	p.name(field, name)
	return p.err("Invalid service name.")
}

// TenantStore keeps tenants durable. Errors are fault errors.
type TenantStore interface {
	// CreateTenant stores t, its name lower-cased (NormalizeHandle), and
	// fills in its ID and timestamps. It returns
	// invalid for a t that fails Validate and conflict when the name is taken.
	CreateTenant(ctx context.Context, t *Tenant) error
	// GetTenant returns the tenant with id, or not_found.
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	// GetTenantByName returns the tenant named name (case-insensitively:
	// NormalizeHandle), or not_found.
	GetTenantByName(ctx context.Context, name string) (*Tenant, error)
	// ListTenants returns all tenants, ordered by name (byte by byte).
	ListTenants(ctx context.Context) ([]*Tenant, error)
	// UpdateTenant applies u to the tenant with id and returns the result. It
	// returns not_found for an unknown id and invalid for a u that fails
	// Validate.
	UpdateTenant(ctx context.Context, id string, u TenantUpdate) (*Tenant, error)
	// DeleteTenant removes the tenant with id together with its API keys. It
	// returns not_found for an unknown id and conflict, deleting nothing,
	// while the tenant still has users.
	DeleteTenant(ctx context.Context, id string) error
	// SetTenantService enables or disables one service for a tenant,
	// atomically (two changes at once both land); not_found for an unknown
	// tenant.
	SetTenantService(ctx context.Context, id, service string, enabled bool) (*Tenant, error)
}
