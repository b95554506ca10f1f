package core

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/plugboard/plugboard/registry"
)

// Limits of the configuration center.
const (
	// MaxConfigValue caps a configuration value, in bytes of JSON text.
	MaxConfigValue = 256 << 10
	// MaxConfigComment caps the comment of a configuration write, in bytes.
	MaxConfigComment = 1024
)

var (
	// configKey is a configuration key; "/" and ":" let keys form paths.
	configKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
)

// ReservedConfigValidators returns the checks of the values of reserved
// configuration keys (those starting with corefeed.ReservedKeyPrefix, which
// the platform reads itself), by key: a write whose value a check refuses
// is invalid (400, naming the field "value"). A reserved key without a
// check takes any JSON value. Each call returns a new map.
func ReservedConfigValidators() map[string]func(value json.RawMessage) error {
	return map[string]func(json.RawMessage) error{
		registry.RoutingKey: registry.ValidateRoutingJSON, // versions and gray release
	}
}

// ConfigEntry is one configuration value, addressed by (Scope, Service,
// Key), in its current version.
type ConfigEntry struct {
	// Scope is "" for the global configuration, or the ID of the tenant the
	// entry belongs to.
	Scope string `json:"scope"`
	// Service is the registry service the entry configures.
	Service string `json:"service"`
	Key     string `json:"key"`
	// Value is any JSON value, kept byte for byte as it was written.
	Value json.RawMessage `json:"value"`
	// Version counts the writes of the entry, deletes included: 1, 2, …
	Version int `json:"version"`
	// CreatedAt is when the entry was created, or re-created after a delete.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// UpdatedBy is the author of the current version.
	UpdatedBy Author `json:"updated_by"`
	// Created is set on the entry a write returns when that write created
	// the entry (or re-created it after a delete); it is false otherwise.
	Created bool `json:"-"`
}

// Validate reports, as a fault.Invalid error naming each bad field, whether
// e can be written. It does not look at Version, timestamps or UpdatedBy,
// which the store sets.
func (e *ConfigEntry) Validate() error {
	p := problems{}
	p.configAddress(e.Scope, e.Service, e.Key)
	switch {
	case len(e.Value) == 0:
		p["value"] = "is required"
	case len(e.Value) > MaxConfigValue:
		p["value"] = fmt.Sprintf("must be at most %d bytes of JSON", MaxConfigValue)
	case !utf8.Valid(e.Value) || !json.Valid(e.Value):
		p["value"] = "must be a single valid JSON value in UTF-8"
	}
	return p.err("Invalid configuration entry.")
}

// ValidateConfigAddress reports, as a fault.Invalid error naming each bad
// field, whether scope, service and key can address a configuration entry.
func ValidateConfigAddress(scope, service, key string) error {
	p := problems{}
	p.configAddress(scope, service, key)
	return p.err("Invalid configuration address.")
}

// ValidateConfigComment reports, as a fault.Invalid error naming the field
// "comment", whether comment can go with a configuration write.
func ValidateConfigComment(comment string) error {
	p := problems{}
	if len(comment) > MaxConfigComment {
		p["comment"] = fmt.Sprintf("must be at most %d bytes long", MaxConfigComment)
	} else {
		p.text("comment", comment)
	}
	return p.err("Invalid configuration comment.")
}

func (p problems) configAddress(scope, service, key string) {
	if len(scope) > maxNameLen {
		p["scope"] = fmt.Sprintf("must be at most %d bytes long", maxNameLen)
	} else {
		p.text("scope", scope)
	}
	if !registry.ValidName(service) {
		p["service"] = "must be 1-63 lower-case letters, digits, '_' or '-', starting with a letter or digit"
	}
	if !configKey.MatchString(key) {
		p["key"] = "must be 1-128 letters, digits, '.', '_', ':', '/' or '-', starting with a letter or digit"
	}
}

// Author is who made a configuration write: a user's ID and name at the
// time, or empty for the system.
type Author struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ConfigVersion is one write of a configuration entry, as history keeps it.
type ConfigVersion struct {
	Scope   string `json:"scope"`
	Service string `json:"service"`
	Key     string `json:"key"`
	Version int    `json:"version"`
	// Value is the value written; JSON null when Deleted.
	Value json.RawMessage `json:"value"`
	// Deleted marks a version that deleted the entry.
	Deleted   bool      `json:"deleted"`
	Author    Author    `json:"author"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
}

// ConfigFilter selects configuration entries in ConfigStore.ListConfig.
type ConfigFilter struct {
	// Scope, when set, keeps one scope's entries ("" the global ones).
	Scope *string
	// Service, when not "", keeps one service's entries.
	Service string
	// Prefix, when not "", keeps entries whose key starts with it
	// (case-sensitive).
	Prefix string
}

// Validate reports, as a fault.Invalid error naming each bad field, whether
// f is usable: a service set must be a valid service name.
func (f ConfigFilter) Validate() error {
	p := problems{}
	if f.Service != "" && !registry.ValidName(f.Service) {
		p["service"] = "must be 1-63 lower-case letters, digits, '_' or '-', starting with a letter or digit"
	}
	if f.Prefix != "" {
		p.text("prefix", f.Prefix)
	}
	return p.err("Invalid configuration filter.")
}

// ConfigStore keeps the configuration center durable: entries and every
// version of each. Every write is one transaction that adds a version.
// Errors are fault errors.
//
// Writes take expectVersion for optimistic concurrency: nil writes
// whatever the current version; 0 requires that the entry does not exist
// (never written, or deleted); n > 0 requires that the entry exists at
// version n. A mismatch returns precondition and writes nothing. Of two
// writers expecting the same version, exactly one wins.
type ConfigStore interface {
	// PutConfig writes e's value as the next version of the entry e
	// addresses, creating the entry (version 1) or re-creating a deleted
	// one (continuing its numbering), and returns the entry as stored, with
	// Created set when it did not exist before. It returns invalid for an e
	// that fails Validate or a bad comment, not_found when e.Scope names no
	// tenant, and precondition when expectVersion does not hold.
	PutConfig(ctx context.Context, e *ConfigEntry, expectVersion *int, author Author, comment string) (*ConfigEntry, error)
	// GetConfig returns the current version of an entry, or not_found when
	// it does not exist or is deleted.
	GetConfig(ctx context.Context, scope, service, key string) (*ConfigEntry, error)
	// ListConfig returns the entries f selects, deleted ones excluded,
	// ordered by scope, service and key (byte by byte). It returns invalid
	// for an f that fails Validate.
	ListConfig(ctx context.Context, f ConfigFilter) ([]*ConfigEntry, error)
	// DeleteConfig records a deleting version of an entry and returns the
	// entry as it was before. It returns not_found when the entry does not
	// exist or is already deleted, and precondition when expectVersion does
	// not hold.
	DeleteConfig(ctx context.Context, scope, service, key string, expectVersion *int, author Author) (*ConfigEntry, error)
	// ConfigHistory returns every version of an entry, deletes included,
	// newest first; not_found when the entry was never written.
	ConfigHistory(ctx context.Context, scope, service, key string) ([]*ConfigVersion, error)
	// ConfigVersionAt returns one version of an entry; not_found when the
	// entry was never written or has no such version.
	ConfigVersionAt(ctx context.Context, scope, service, key string, version int) (*ConfigVersion, error)
}
