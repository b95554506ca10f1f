// Package core is the domain of Plugboard's core service: tenants, users and API
// keys, the rules their fields obey, and the Store contract that keeps them
// durable. It holds types and interfaces only; storage lives in core/sqlstore
// and the contract every store must meet in core/storetest.
//
// Every user and API key belongs to exactly one tenant, and nothing in a
// tenant-scoped read ever crosses into another tenant.
//
// Each aggregate has its own file with its types and its store interface:
// tenant.go, user.go, apikey.go, signingkey.go (token signing keys),
// session.go (refresh tokens), audit.go, config.go (the configuration
// center) and changes.go (the change feed gateways follow); validate.go
// holds the field rules they share.
package core

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
	ChangeStore
}
