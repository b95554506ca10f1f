package core

import (
	"context"
	"time"
)

// Role is what a user may do: manage the whole platform, manage one tenant,
// or use it.
type Role string

// The roles, from most to least powerful.
const (
	RoleSuperAdmin  Role = "super_admin"
	RoleTenantAdmin Role = "tenant_admin"
	RoleUser        Role = "user"
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleSuperAdmin, RoleTenantAdmin, RoleUser:
		return true
	}
	return false
}

// User is a person or robot that signs in to one tenant.
type User struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	// Username is unique within the tenant, case-insensitively: ASCII
	// letters, digits and . _ - @ +, stored lower-case (NormalizeHandle).
	// Other characters are refused, so that no two usernames look alike.
	Username string `json:"username"`
	// Email is optional ("" = none); when set it is unique within the tenant,
	// compared case-insensitively.
	Email string `json:"email"`
	// HashedPassword is the password hash; it never leaves the service.
	HashedPassword string     `json:"-"`
	Role           Role       `json:"role"`
	IsActive       bool       `json:"is_active"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	LastLogin      *time.Time `json:"last_login"`
}

// Validate reports, as a fault.Invalid error naming each bad field, whether u
// can be stored. It does not look at ID, timestamps or LastLogin.
func (u *User) Validate() error {
	p := problems{}
	p.required("tenant_id", u.TenantID)
	p.handle("username", u.Username)
	p.email("email", u.Email)
	p.required("hashed_password", u.HashedPassword)
	p.role("role", u.Role)
	return p.err("Invalid user.")
}

// UserUpdate holds the user fields to change; nil fields stay as they are.
type UserUpdate struct {
	// Email "" removes the address.
	Email          *string
	HashedPassword *string
	Role           *Role
	IsActive       *bool
}

// Validate reports, as a fault.Invalid error naming each bad field, whether u
// can be applied.
func (u UserUpdate) Validate() error {
	p := problems{}
	if u.Email != nil {
		p.email("email", *u.Email)
	}
	if u.HashedPassword != nil {
		p.required("hashed_password", *u.HashedPassword)
	}
	if u.Role != nil {
		p.role("role", *u.Role)
	}
	return p.err("Invalid user update.")
}

// UserFilter selects users in UserStore.ListUsers; nil fields do not filter.
type UserFilter struct {
	TenantID *string
	Username *string
	// Email matches case-insensitively.
	Email *string
	Role  *Role
	// Offset skips that many users; Limit caps the result (0: no cap).
	Offset int
	Limit  int
}

// Validate reports whether f is usable.
func (f UserFilter) Validate() error {
	p := problems{}
	if f.Offset < 0 {
		p["offset"] = "must not be negative"
	}
	if f.Limit < 0 {
		p["limit"] = "must not be negative"
	}
	return p.err("Invalid user filter.")
}

// UserStore keeps users durable. Errors are fault errors.
type UserStore interface {
	// CreateUser stores u, its username lower-cased (NormalizeHandle), and
	// fills in its ID and timestamps. It returns
	// invalid for a u that fails Validate, not_found when u's tenant does not
	// exist, and conflict when the username or email is taken in the tenant.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user with id, or not_found.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns the user of tenantID named username
	// (case-insensitively: NormalizeHandle), or not_found.
	GetUserByUsername(ctx context.Context, tenantID, username string) (*User, error)
	// ListUsers returns the users f selects, ordered by username (byte by
	// byte) then ID. It returns invalid for a negative offset or limit.
	ListUsers(ctx context.Context, f UserFilter) ([]*User, error)
	// UpdateUser applies u to the user with id and returns the result. It
	// returns not_found for an unknown id, invalid for a u that fails
	// Validate and conflict when the new email is taken in the tenant.
	UpdateUser(ctx context.Context, id string, u UserUpdate) (*User, error)
	// RecordLogin sets the user's last login to t; not_found for an unknown
	// id.
	RecordLogin(ctx context.Context, id string, t time.Time) error
	// DeleteUser removes the user with id and revokes the API keys it owned
	// (which then remain, revoked, without a user); not_found for an unknown
	// id.
	DeleteUser(ctx context.Context, id string) error
	// CountUsers returns the number of users in all tenants, so that start-up
	// can tell an empty database from a bootstrapped one.
	CountUsers(ctx context.Context) (int, error)
}
