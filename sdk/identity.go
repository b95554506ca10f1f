package sdk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/httpx"
)

// The identity headers the gateway's jwt_auth sets (client-sent ones are
// stripped first).
const (
	HeaderUserID    = "X-Plugboard-User-Id"
	HeaderTenantID  = "X-Plugboard-Tenant-Id"
	HeaderRoles     = "X-Plugboard-Roles"
	HeaderScopes    = "X-Plugboard-Scopes"
	HeaderTimestamp = "X-Plugboard-Timestamp"
	HeaderSignature = "X-Plugboard-Signature"
)

// MaxSkew is how old a signed request may be.
const MaxSkew = 5 * time.Minute

// Identity is the caller the gateway vouched for.
type Identity struct {
	UserID   string
	TenantID string
	Roles    []string
	Scopes   []string
}

// HasRole reports whether the caller has role (super_admin has every role).
func (id *Identity) HasRole(roles ...string) bool {
	if id == nil {
		return false
	}
	if slices.Contains(id.Roles, "super_admin") {
		return true
	}
	for _, r := range roles {
		if slices.Contains(id.Roles, r) {
			return true
		}
	}
	return false
}

// Sign returns the gateway's signature over a request's identity: hex
// HMAC-SHA256 under secret of method, the request target (path and query
// as the service receives them, r.URL.RequestURI()),
// user, tenant, roles, scopes and timestamp, joined by newlines.
func Sign(secret []byte, method, path, user, tenant, roles, scopes, timestamp string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.Join([]string{method, path, user, tenant, roles, scopes, timestamp}, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks the identity headers of r against secret and returns the
// identity, or nil when they are missing, forged, or older than MaxSkew.
// A request without a user (a public endpoint called anonymously) carries
// no signature and yields nil too.
func Verify(r *http.Request, secret []byte, now time.Time) *Identity {
	h := r.Header
	sig, ts := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || ts == "" || len(secret) == 0 {
		return nil
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return nil
	}
	want := Sign(secret, r.Method, r.URL.RequestURI(), h.Get(HeaderUserID), h.Get(HeaderTenantID), h.Get(HeaderRoles), h.Get(HeaderScopes), ts)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return nil
	}
	return &Identity{UserID: h.Get(HeaderUserID), TenantID: h.Get(HeaderTenantID), Roles: split(h.Get(HeaderRoles)), Scopes: split(h.Get(HeaderScopes))}
}

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

type identityKey struct{}

// IdentityFrom returns the verified caller Middleware stored, or nil.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// Middleware verifies the gateway's identity headers. A request with a
// valid signature gets its Identity in the context; one with an invalid or
// stale signature is refused with 401 problem+json (it did not come through
// the gateway); one with no signature at all passes without an identity
// (the gateway lets anonymous callers reach public endpoints). Handlers that
// need a caller use RequireRole or check IdentityFrom.
func Middleware(secret string, next http.Handler) http.Handler {
	key := []byte(secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderSignature) == "" && r.Header.Get(HeaderUserID) == "" {
			next.ServeHTTP(w, r)
			return
		}
		id := Verify(r, key, time.Now())
		if id == nil {
			Problem(w, r, http.StatusUnauthorized, "The request's identity is not signed by the gateway.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// RequireRole wraps h so that only callers with one of roles (or any
// caller, when roles is empty) reach it: 401 without an identity, 403
// without the role.
func RequireRole(h http.Handler, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := IdentityFrom(r.Context())
		switch {
		case id == nil:
			Problem(w, r, http.StatusUnauthorized, "Credentials are required.")
		case len(roles) > 0 && !id.HasRole(roles...):
			Problem(w, r, http.StatusForbidden, "This needs one of the roles: "+strings.Join(roles, ", ")+".")
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// Problem writes an RFC 9457 problem+json answer, as the platform does.
func Problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":  httpx.ProblemType(status),
		"title": http.StatusText(status), "status": status, "detail": detail, "instance": r.URL.Path,
	})
}
