package sdk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
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

// ServiceKeyLabel prefixes the service name in ServiceKey's derivation.
const ServiceKeyLabel = "plugboard-service-key:"

// ServiceKey returns service's key as the gateway derives it from its
// master signing secret: hex HMAC-SHA256(master, ServiceKeyLabel+service).
// The 64 hex characters are the key (PLUGBOARD_SERVICE_KEY), used as
// given. `plugboard-gateway service-key <name>` prints it.
func ServiceKey(master []byte, service string) string {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(ServiceKeyLabel + service))
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns the gateway's signature over a request's identity: hex
// HMAC-SHA256 under key (the service's ServiceKey) of the service's name,
// method, the request target (path and query as the service receives
// them, r.URL.RequestURI()), user, tenant, roles, scopes and timestamp,
// joined by newlines.
func Sign(key []byte, service, method, path, user, tenant, roles, scopes, timestamp string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join([]string{service, method, path, user, tenant, roles, scopes, timestamp}, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

// Verifier checks the gateway's signature for one service: its name and
// its keys, the current one first and, while a rotation overlaps, the
// previous one (Config.Verifier).
type Verifier struct {
	Service string
	Keys    [][]byte
}

// NewVerifier returns a Verifier for service with keys, skipping empty
// ones.
func NewVerifier(service string, keys ...string) Verifier {
	v := Verifier{Service: service}
	for _, k := range keys {
		if k != "" {
			v.Keys = append(v.Keys, []byte(k))
		}
	}
	return v
}

// Verifier returns the service's Verifier: Name with ServiceKey and
// ServiceKeyPrevious. Without either, a legacy SigningSecret (the
// gateway's master secret) still works for the migration period: the key
// of Name is derived from it, with a warning, since a plugin holding the
// master can sign for every service.
func (c Config) Verifier() Verifier {
	if c.ServiceKey != "" || c.ServiceKeyPrevious != "" {
		return NewVerifier(c.Name, c.ServiceKey, c.ServiceKeyPrevious)
	}
	if c.SigningSecret == "" {
		return Verifier{Service: c.Name}
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("PLUGBOARD_GATEWAY_SIGNING_SECRET is the gateway's master secret, with which this plugin could sign for every service (legacy, insecure); give it only its own key: PLUGBOARD_SERVICE_KEY=$(plugboard-gateway service-key "+c.Name+")",
		"service", c.Name)
	return NewVerifier(c.Name, ServiceKey([]byte(c.SigningSecret), c.Name))
}

// Verify checks the identity headers of r against v and returns the
// identity, or nil when they are missing, forged, signed for another
// service, or older than MaxSkew. A request without a user (a public
// endpoint called anonymously) carries no signature and yields nil too.
func Verify(r *http.Request, v Verifier, now time.Time) *Identity {
	h := r.Header
	sig, ts := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || ts == "" || len(v.Keys) == 0 {
		return nil
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return nil
	}
	ok := false
	for _, key := range v.Keys {
		want := Sign(key, v.Service, r.Method, r.URL.RequestURI(), h.Get(HeaderUserID), h.Get(HeaderTenantID), h.Get(HeaderRoles), h.Get(HeaderScopes), ts)
		if hmac.Equal([]byte(sig), []byte(want)) {
			ok = true
		}
	}
	if !ok {
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

// Middleware verifies the gateway's identity headers with v (usually
// cfg.Verifier()). A request with a
// valid signature gets its Identity in the context; one with an invalid or
// stale signature is refused with 401 problem+json (it did not come through
// the gateway); one with no signature at all passes without an identity
// (the gateway lets anonymous callers reach public endpoints). Handlers that
// need a caller use RequireRole or check IdentityFrom.
func Middleware(v Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderSignature) == "" && r.Header.Get(HeaderUserID) == "" {
			next.ServeHTTP(w, r)
			return
		}
		id := Verify(r, v, time.Now())
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
