// Package platform is the home of the plumbing every Plugboard service shares:
// the relational storage layer (storage), the ephemeral state layer (ephemeral),
// typed application errors (fault), RFC 9457 problem responses (problem),
// environment configuration (envconfig), HTTP serving (serve) and the helpers
// tests use to reach real PostgreSQL and Redis servers (testenv).
//
// It lives under core/ because the design card fixes the repository's top level;
// it holds no domain logic and imports nothing from core or registry, so both
// services (and the gateway) can depend on it.
package platform
