// Package corefeed is the contract of core's change feed: the events core
// publishes when something that a gateway decision depends on changes, and
// how they travel. Core writes them (core/…) and every gateway follows them
// (caddymodules/…); this package is the one place both read.
//
// Every event carries a revision: core assigns revisions in commit order,
// in the same transaction as the change, and every core replica serves the
// same sequence. A follower resumes after the last revision it applied; a
// follower too far behind (or new) gets a reset, then every event core
// still keeps. Core keeps events at least RetentionFloor and at least twice
// its access tokens' lifetime, so a reset followed by the kept events
// rebuilds every revocation that still matters to a token that is still
// valid.
//
// The stream is Server-Sent Events at Path:
//
//	GET /api/auth/changes?after=<revision>   (or Last-Event-ID: <revision>)
//	Authorization: Bearer <feed token>        (or a super_admin credential)
//
// Frames:
//
//	event: reset      data: {"revision": N}   the follower must drop every cached decision; kept events follow
//	event: change     id: <rev>  data: Event  apply in order; never skipped
//	event: heartbeat  data: {"revision": N}   sent every HeartbeatEvery; N is core's latest revision
package corefeed

import (
	"encoding/json"
	"time"
)

// Path is where core serves the stream.
const Path = "/api/auth/changes"

// ConfigPath is where core serves, with the same credentials as the
// stream, the current global entries of the reserved keys (a JSON array of
// configuration entries): what a follower loads at start and after a
// reset, since a configuration value may be older than the events kept.
const ConfigPath = "/api/auth/changes/config"

// Server-Sent Events names of the frames.
const (
	FrameReset     = "reset"
	FrameChange    = "change"
	FrameHeartbeat = "heartbeat"
)

// HeartbeatEvery is how often an idle stream carries a heartbeat frame; a
// follower that has heard nothing for three of them treats the feed as
// down.
const HeartbeatEvery = 2 * time.Second

// RetentionFloor is the shortest time core keeps an event.
const RetentionFloor = time.Hour

// TokenEnv and TokenFile name the feed token: the variable that holds it,
// else this file under PLUGBOARD_DATA_DIR, which core creates and the
// gateway reads.
const (
	TokenEnv  = "PLUGBOARD_CORE_FEED_TOKEN"
	TokenFile = "core-feed.token"
)

// Kind says what changed.
type Kind string

// The kinds of change. A follower ignores a kind it does not know.
const (
	// TenantServices: the tenant's enabled services changed (TenantID).
	TenantServices Kind = "tenant.services"
	// TenantRevoked: the tenant was deactivated or deleted (TenantID):
	// every token of the tenant issued up to At is refused, and every
	// cached answer about the tenant or its API keys is dropped.
	TenantRevoked Kind = "tenant.revoked"
	// TenantChanged: any other change to the tenant (reactivated,
	// renamed): cached answers about it are dropped.
	TenantChanged Kind = "tenant.changed"
	// UserRevoked: the user was deactivated, deleted, had a role changed
	// or a password changed (UserID, TenantID): every token of the user
	// issued up to At is refused, cached answers about the user's API keys
	// are dropped.
	UserRevoked Kind = "user.revoked"
	// SessionRevoked: a login session ended — logout, refresh-token reuse
	// (SessionID, UserID, TenantID): its access tokens are refused.
	SessionRevoked Kind = "session.revoked"
	// APIKeyRevoked: an API key was revoked or deleted (KeyID, UserID,
	// TenantID): cached answers about it are dropped. (An API key that
	// expires needs no event: core's answer carries expires_at and no
	// cache keeps it past that.)
	APIKeyRevoked Kind = "apikey.revoked"
	// APIKeyChanged: an API key's settings changed (KeyID, UserID,
	// TenantID), such as its rate-limit quota: cached answers about it are
	// dropped.
	APIKeyChanged Kind = "apikey.changed"
	// SigningKeys: core's token signing keys changed: fetch the JWKS again.
	SigningKeys Kind = "signing_keys"
	// Config: a global configuration entry under a reserved key of a
	// service changed (Service, Key, Version, Value; Deleted). Only keys
	// starting with ReservedKeyPrefix travel on the feed.
	Config Kind = "config"
)

// ReservedKeyPrefix starts the configuration keys the platform itself
// reads (plugboard.routing, …): only super_admins write them, core
// validates their values, and their global entries travel on the feed.
const ReservedKeyPrefix = "plugboard."

// Event is one change, as the stream's change frame carries it.
type Event struct {
	Revision  int64     `json:"revision"`
	Kind      Kind      `json:"kind"`
	At        time.Time `json:"at"`
	TenantID  string    `json:"tenant_id,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
	// Services is the tenant's enabled services after a TenantServices
	// change.
	Services []string `json:"services,omitempty"`
	// Config entries (Kind Config).
	Service string          `json:"service,omitempty"`
	Key     string          `json:"key,omitempty"`
	Version int             `json:"version,omitempty"`
	Deleted bool            `json:"deleted,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"` // the entry's JSON value, verbatim
}

// Position is the data of reset and heartbeat frames.
type Position struct {
	Revision int64 `json:"revision"`
}
