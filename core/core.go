// Package core is the domain of Plugboard's core service: tenants, users and API
// keys, the rules their fields obey, and the Store contract that keeps them
// durable. It holds types and interfaces only; storage lives in core/sqlstore
// and the contract every store must meet in core/storetest.
//
// Every user and API key belongs to exactly one tenant, and nothing in a
// tenant-scoped read ever crosses into another tenant.
package core

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plugboard/plugboard/internal/fault"
)

// maxNameLen caps names, usernames and other short identifiers, in bytes.
const maxNameLen = 255

// NormalizeHandle returns the stored form of a username or tenant name:
// ASCII letters lower-cased, everything else as it is. Handles are
// case-insensitive (as Keycloak's usernames are): every store lookup and
// every create applies it, so "Alice" logs in as "alice".
func NormalizeHandle(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

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
	EnabledServices []string  `json:"enabled_services"`
	IsActive        bool      `json:"is_active"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
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
	return p.err("Invalid tenant update.")
}

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

// APIKey is a long-lived credential of a tenant, optionally on behalf of one
// of its users. Only a hash of the secret is kept.
type APIKey struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	// UserID is the user the key acts for, "" for a tenant-wide key. It must
	// be a user of the same tenant.
	UserID string `json:"user_id,omitempty"`
	// Name is unique within the tenant.
	Name string `json:"name"`
	// Prefix is the public start of the secret, shown to identify the key; it
	// is unique across all tenants.
	Prefix string `json:"prefix"`
	// KeyHash is the hash of the secret; it never leaves the service.
	KeyHash   string     `json:"-"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used"`
	RevokedAt *time.Time `json:"revoked_at"`
	CreatedAt time.Time  `json:"created_at"`
}

// Usable reports whether k may authenticate a request at now: it is neither
// revoked nor expired. Whether its tenant and user are active is the
// caller's to check.
func (k *APIKey) Usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Validate reports, as a fault.Invalid error naming each bad field, whether k
// can be stored. It does not look at ID, CreatedAt, LastUsed or RevokedAt.
func (k *APIKey) Validate() error {
	p := problems{}
	p.required("tenant_id", k.TenantID)
	p.name("name", k.Name)
	p.name("prefix", k.Prefix)
	p.required("key_hash", k.KeyHash)
	p.list("scopes", k.Scopes)
	return p.err("Invalid API key.")
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

// APIKeyStore keeps API keys durable. Errors are fault errors.
type APIKeyStore interface {
	// CreateAPIKey stores k and fills in its ID and CreatedAt. It returns
	// invalid for a k that fails Validate, not_found when k's tenant does not
	// exist or k's user is not a user of that tenant, and conflict when the
	// name is taken in the tenant or the prefix or hash is already in use.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKey returns the key with id, revoked or not, or not_found.
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	// GetAPIKeyByHash returns the key whose hash is keyHash, revoked or
	// expired or not (see APIKey.Usable), or not_found.
	GetAPIKeyByHash(ctx context.Context, keyHash string) (*APIKey, error)
	// ListAPIKeys returns the keys of tenantID, revoked ones included,
	// ordered by name (byte by byte); an unknown tenant has none.
	ListAPIKeys(ctx context.Context, tenantID string) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked at t; not_found for an unknown id.
	// Revoking twice is not an error and keeps the first time.
	RevokeAPIKey(ctx context.Context, id string, t time.Time) error
	// TouchAPIKeys records, in one transaction, when each key in lastUsed
	// (by ID) was last used. A time older than the one stored is ignored, as
	// are IDs of keys that no longer exist.
	TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error
}

// Store is everything the core service keeps durable. Implementations are
// safe for concurrent use.
type Store interface {
	TenantStore
	UserStore
	APIKeyStore
	KeyStore
	SessionStore
	AuditStore
	ConfigStore
}

// problems collects what is wrong with each input field.
type problems map[string]string

func (p problems) err(message string) error {
	if len(p) == 0 {
		return nil
	}
	return fault.InvalidFields(message, p)
}

func (p problems) required(field, v string) {
	if v == "" {
		p[field] = "is required"
	}
}

// text checks free text: valid UTF-8 without control characters.
func (p problems) text(field, v string) {
	switch {
	case !utf8.ValidString(v):
		p[field] = "must be valid UTF-8"
	case strings.ContainsFunc(v, unicode.IsControl):
		p[field] = "must not contain control characters"
	}
}

// name checks a short identifier: required, text, trimmed, bounded.
func (p problems) name(field, v string) {
	switch {
	case v == "":
		p[field] = "is required"
	case len(v) > maxNameLen:
		p[field] = fmt.Sprintf("must be at most %d bytes long", maxNameLen)
	case strings.TrimSpace(v) != v:
		p[field] = "must not start or end with white space"
	default:
		p.text(field, v)
	}
}

// handle checks a username or tenant name: a name of ASCII letters,
// digits and . _ - @ + only. Other scripts and compatibility forms (the
// fullwidth ｕ of "ｕsr") are refused rather than folded.
func (p problems) handle(field, v string) {
	if p.name(field, v); p[field] != "" {
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-@+", c) >= 0) {
			p[field] = "may contain only ASCII letters, digits and . _ - @ +"
			return
		}
	}
}

func (p problems) email(field, v string) {
	if v == "" {
		return
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v || len(v) > maxNameLen {
		p[field] = "must be a plain email address like name@example.com"
	}
}

func (p problems) role(field string, r Role) {
	if !r.Valid() {
		p[field] = fmt.Sprintf("must be one of %s, %s, %s", RoleSuperAdmin, RoleTenantAdmin, RoleUser)
	}
}

// list checks a list of names, each present once.
func (p problems) list(field string, vs []string) {
	seen := make(map[string]bool, len(vs))
	for i, v := range vs {
		key := fmt.Sprintf("%s[%d]", field, i)
		if seen[v] {
			p[key] = fmt.Sprintf("%q is listed twice", v)
			continue
		}
		seen[v] = true
		p.name(key, v)
	}
}

// ValidateServiceName reports, as a fault.Invalid error naming field,
// whether name can be among a tenant's enabled services (the rule
// enabled_services entries follow).
func ValidateServiceName(field, name string) error {
	p := problems{}
	p.name(field, name)
	return p.err("Invalid service name.")
}

// jsonObject checks that raw is empty, null, or a JSON object that every
// storage engine keeps as given.
func (p problems) jsonObject(field string, raw json.RawMessage) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
	case !utf8.ValidString(s) || !json.Valid(raw):
		p[field] = "must be a JSON object"
	case s[0] != '{':
		p[field] = "must be a JSON object"
	default:
		if problem := checkEscapes(s); problem != "" {
			p[field] = problem
		}
	}
}

// checkEscapes rejects \u escapes in valid JSON text that not every engine
// accepts: NUL, and surrogates that do not form a pair (PostgreSQL rejects
// both, SQLite would keep them).
func checkEscapes(s string) string {
	const bad = "must not contain \\u0000 or unpaired surrogate escapes"
	// hex4 returns the code unit of the \uXXXX escape at s[i:], or -1.
	hex4 := func(i int) int {
		if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
			return -1
		}
		v := 0
		for _, c := range s[i+2 : i+6] {
			d := strings.IndexRune("0123456789abcdef", unicode.ToLower(c))
			if d < 0 {
				return -1
			}
			v = v*16 + d
		}
		return v
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		u := hex4(i)
		if u < 0 { // another escape such as \" or \\: skip the escaped byte
			i++
			continue
		}
		switch {
		case u == 0, u >= 0xDC00 && u <= 0xDFFF:
			return bad
		case u >= 0xD800 && u <= 0xDBFF:
			if low := hex4(i + 6); low < 0xDC00 || low > 0xDFFF {
				return bad
			}
			i += 6
		}
		i += 5
	}
	return ""
}
