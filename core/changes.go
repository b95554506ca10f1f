package core

import (
	"context"
	"time"

	"github.com/plugboard/plugboard/internal/corefeed"
)

// ChangeStore keeps core's change feed (internal/corefeed): the events that
// the other stores' writes append, each in the transaction of its change,
// so that a change and its event commit together or not at all. Revisions
// are consecutive, in commit order.
//
// The writes that append events: UpdateTenant, SetTenantService and
// DeleteTenant (tenant kinds); UpdateUser (deactivation or reactivation,
// a role or password change) and DeleteUser (user.revoked); RevokeAPIKey
// (apikey.revoked, the first time only); RevokeFamily (session.revoked) and
// RevokeUserSessions (user.revoked), when they revoke something;
// CreateSigningKey (signing_keys); PutConfig and DeleteConfig of a global
// entry whose key starts with corefeed.ReservedKeyPrefix (config). A
// refused write appends nothing.
type ChangeStore interface {
	// ChangeRevision returns the revision of the latest change (0 before
	// the first).
	ChangeRevision(ctx context.Context) (int64, error)
	// ChangesAfter returns, in revision order, up to limit (1000 when
	// limit <= 0) changes after revision after, and complete = true. When
	// changes after after were pruned already (after is older than the
	// oldest change kept, or nothing is kept and after is behind the
	// latest revision) it returns no change and complete = false: the
	// caller must start over. A negative after reads from the oldest
	// change kept (complete).
	ChangesAfter(ctx context.Context, after int64, limit int) (changes []corefeed.Event, complete bool, err error)
	// PruneChanges deletes the changes made before before, from the
	// oldest up (the changes kept are always the latest ones, without a
	// gap), and returns how many it deleted.
	PruneChanges(ctx context.Context, before time.Time) (int, error)
}

// ChangeRetention is how long core keeps the change feed's events: at least
// corefeed.RetentionFloor and twice the access tokens' lifetime, so that a
// follower that starts over rebuilds every revocation a valid token may
// still meet.
func ChangeRetention(accessTTL time.Duration) time.Duration {
	return max(corefeed.RetentionFloor, 2*accessTTL)
}
