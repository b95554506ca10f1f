package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/corefeed"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/storage"
	"github.com/plugboard/plugboard/registry"
)

const tenantColumns = `id, name, display_name, config, enabled_services, is_active, created_at, updated_at, rate_limit`

// CreateTenant implements core.TenantStore.
func (s *Store) CreateTenant(ctx context.Context, t *core.Tenant) error {
	t.Name = core.NormalizeHandle(t.Name)
	if err := t.Validate(); err != nil {
		return err
	}
	id, now := newID(), s.now()
	config, services := jsonObject(t.Config), jsonList(t.EnabledServices)
	_, err := s.db.ExecContext(ctx, `
INSERT INTO tenants (id, name, display_name, config, enabled_services, is_active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		id, t.Name, t.DisplayName, config, services, t.IsActive, storage.Time(now))
	if err != nil {
		return tenantError(err, t.Name)
	}
	t.ID, t.CreatedAt, t.UpdatedAt = id, now, now
	t.Config = json.RawMessage(config)
	if t.EnabledServices == nil {
		t.EnabledServices = []string{}
	}
	return nil
}

// GetTenant implements core.TenantStore.
func (s *Store) GetTenant(ctx context.Context, id string) (*core.Tenant, error) {
	t, err := scanTenant(s.db.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "Tenant %q not found.", id)
	}
	return t, err
}

// GetTenantByName implements core.TenantStore.
func (s *Store) GetTenantByName(ctx context.Context, name string) (*core.Tenant, error) {
	t, err := scanTenant(s.db.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE name = $1`, core.NormalizeHandle(name)))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "No tenant is named %q.", name)
	}
	return t, err
}

// ListTenants implements core.TenantStore.
func (s *Store) ListTenants(ctx context.Context) ([]*core.Tenant, error) {
	return scanAll(ctx, s.db, "tenant", scanTenant, `SELECT `+tenantColumns+` FROM tenants ORDER BY name`+s.bytewise+`, id`)
}

// UpdateTenant implements core.TenantStore. The row is read and locked
// first, so that the change events say what changed: the enabled services
// (tenant.services), a deactivation (tenant.revoked), anything else
// (tenant.changed).
func (s *Store) UpdateTenant(ctx context.Context, id string, u core.TenantUpdate) (*core.Tenant, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	var q setter
	if u.DisplayName != nil {
		q.set("display_name", *u.DisplayName)
	}
	if u.Config != nil {
		q.set("config", jsonObject(*u.Config))
	}
	if u.EnabledServices != nil {
		q.set("enabled_services", jsonList(*u.EnabledServices))
	}
	if u.IsActive != nil {
		q.set("is_active", *u.IsActive)
	}
	if u.SetRateLimit {
		v, err := rateLimitColumn(u.RateLimit)
		if err != nil {
			return nil, err
		}
		q.set("rate_limit", v)
	}
	if len(q.sets) == 0 {
		return s.GetTenant(ctx, id)
	}
	q.set("updated_at", storage.Time(s.now()))
	var out *core.Tenant
	err := s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		before, err := s.lockTenant(ctx, tx, id)
		if err != nil {
			return err
		}
		out, err = scanTenant(tx.QueryRowContext(ctx, `UPDATE tenants SET `+strings.Join(q.sets, ", ")+
			` WHERE id = `+q.arg(id)+` RETURNING `+tenantColumns, q.args...))
		if err != nil {
			return tenantError(err, "")
		}
		return tenantChanges(ctx, log, before, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockTenant reads the tenant with id, locked for the rest of tx.
func (s *Store) lockTenant(ctx context.Context, tx *sql.Tx, id string) (*core.Tenant, error) {
	t, err := scanTenant(tx.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`+s.forUpdate(), id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fault.Errorf(fault.NotFound, "Tenant %q not found.", id)
	}
	return t, err
}

// tenantChanges appends the events of a tenant going from before to after.
func tenantChanges(ctx context.Context, log *changeLog, before, after *core.Tenant) error {
	if !sameSet(before.EnabledServices, after.EnabledServices) {
		if err := log.append(ctx, corefeed.Event{Kind: corefeed.TenantServices, TenantID: after.ID, Services: after.EnabledServices}); err != nil {
			return err
		}
	}
	switch {
	case before.IsActive && !after.IsActive:
		return log.append(ctx, corefeed.Event{Kind: corefeed.TenantRevoked, TenantID: after.ID})
	case before.IsActive != after.IsActive || before.DisplayName != after.DisplayName || string(before.Config) != string(after.Config) ||
		!sameRateLimit(before.RateLimit, after.RateLimit):
		return log.append(ctx, corefeed.Event{Kind: corefeed.TenantChanged, TenantID: after.ID})
	}
	return nil
}

// sameRateLimit reports whether two quotas are the same (nil: none).
func sameRateLimit(a, b *registry.RateLimit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Requests == b.Requests && a.Per == b.Per && a.Burst == b.Burst && a.Key == b.Key
}

// DeleteTenant implements core.TenantStore. Users are looked for first, as
// SQLite reports a RESTRICT foreign key as a trigger failure rather than a
// foreign key violation; on PostgreSQL, a user created after the look
// still fails the delete through the foreign key.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		hasUsers := func(err error) error {
			return fault.Wrap(err, fault.Conflict, fmt.Sprintf("Tenant %q still has users; delete them first.", id))
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = $1`, id).Scan(&n); err != nil {
			return storage.Fault(err, "tenant")
		}
		if n > 0 {
			return hasUsers(nil)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE id = $1`, id)
		if errors.Is(storage.Interpret(err), storage.ErrForeignKey) {
			return hasUsers(err)
		}
		if err := checkRows(res, err, "tenant", fmt.Sprintf("Tenant %q not found.", id)); err != nil {
			return err
		}
		return log.append(ctx, corefeed.Event{Kind: corefeed.TenantRevoked, TenantID: id})
	})
}

// tenantError maps a failed tenant write; name is the name written, if any.
func tenantError(err error, name string) error {
	err = storage.Interpret(err)
	switch {
	case name != "" && violated(err, storage.ErrUnique, "name"):
		return fault.Wrap(err, fault.Conflict, fmt.Sprintf("A tenant named %q already exists.", name))
	case errors.Is(err, storage.ErrCheck):
		// Every other column is ours to fill; only the config comes as given.
		return &fault.Error{Code: fault.Invalid, Message: "Invalid tenant.",
			Fields: map[string]string{"config": "must be a JSON object"}, Err: err}
	}
	return storage.Fault(err, "tenant")
}

// scanTenant reads one tenant row. It returns an error wrapping
// storage.ErrNotFound when row is an empty *sql.Row.
func scanTenant(row rowScanner) (*core.Tenant, error) {
	var t core.Tenant
	var config, services []byte
	var rl sql.Null[[]byte]
	err := row.Scan(&t.ID, &t.Name, &t.DisplayName, &config, &services, &t.IsActive,
		(*storage.Time)(&t.CreatedAt), (*storage.Time)(&t.UpdatedAt), &rl)
	if err != nil {
		if err := storage.Interpret(err); errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, storage.Fault(err, "tenant")
	}
	t.Config = json.RawMessage(config)
	if t.EnabledServices, err = decodeList(services, "enabled_services of tenant "+t.ID); err != nil {
		return nil, err
	}
	if t.RateLimit, err = decodeRateLimit(rl, "rate_limit of tenant "+t.ID); err != nil {
		return nil, err
	}
	return &t, nil
}

// SetTenantService implements core.TenantStore: the read and the write are
// one transaction (the row locked on PostgreSQL; SQLite's IMMEDIATE
// transactions hold the write lock), so two changes at once both land.
func (s *Store) SetTenantService(ctx context.Context, id, service string, enabled bool) (*core.Tenant, error) {
	var out *core.Tenant
	err := s.write(ctx, func(tx *sql.Tx, log *changeLog) error {
		t, err := s.lockTenant(ctx, tx, id)
		if err != nil {
			return err
		}
		services := slices.DeleteFunc(slices.Clone(t.EnabledServices), func(n string) bool { return n == service })
		if enabled {
			services = append(services, service)
		}
		if err := (core.TenantUpdate{EnabledServices: &services}).Validate(); err != nil {
			return err
		}
		out, err = scanTenant(tx.QueryRowContext(ctx, `UPDATE tenants SET enabled_services = $1, updated_at = $2 WHERE id = $3 RETURNING `+tenantColumns,
			jsonList(services), storage.Time(s.now()), id))
		if err != nil {
			return tenantError(err, "")
		}
		return tenantChanges(ctx, log, t, out)
	})
	return out, err
}

// sameSet reports whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
