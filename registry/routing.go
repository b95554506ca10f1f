package registry

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/plugboard/plugboard/internal/fault"
)

// Versions and gray release: a service's routing rules say which of its
// versions (Instance.Version) a request goes to. They are stored in core's
// configuration center as the global entry RoutingKey of the service
// (versioned, audited, with history and rollback), validated there with
// ValidateRoutingJSON, and applied by every gateway, which learns them from
// core's change feed and picks the version of each request with Choose.
// This file is the one place the rules' shape and meaning live.

// RoutingKey is the configuration key, under a service, that holds its
// routing rules (a global entry; corefeed.ReservedKeyPrefix).
const RoutingKey = "plugboard.routing"

// DefaultVersionHeader is the request header that pins a version, unless
// the rules name another. Responses carry the version that served in
// the same header name (VersionHeader).
const DefaultVersionHeader = "X-Plugboard-Version"

// Response headers the gateway sets on requests routed by rules.
const (
	// VersionHeader says which version served the request.
	VersionHeader = "X-Plugboard-Version"
	// FallbackHeader is set when the version the rules chose has no live
	// instance and another served; its value is the version chosen.
	FallbackHeader = "X-Plugboard-Version-Fallback"
)

// Sticky says what keeps a caller on one version.
type Sticky string

// Stickiness modes. A request without the identity its mode names (an
// anonymous call to a public endpoint) is placed at random.
const (
	// StickyUser keeps a user on one version (the tenant when the caller
	// is a tenant's machine credential without a user). The default.
	StickyUser Sticky = "user"
	// StickyTenant keeps every user of a tenant on one version.
	StickyTenant Sticky = "tenant"
	// StickyNone places every request at random by the weights.
	StickyNone Sticky = "none"
)

// Limits on routing rules.
const (
	MaxRoutingVersions = 32
	MaxCanaryTenants   = 1000
	MaxWeight          = 10000
)

// RoutingRules are a service's gray-release rules.
//
// A request goes, in this order of precedence:
//  1. to the version its pin header names (Header), when that version has
//     a live instance;
//  2. to the version whose Tenants list holds the caller's tenant (the
//     canary allow-list), when it has a live instance;
//  3. to a version drawn by Weights: a point on [0,1) hashed from the
//     caller (Sticky) and the service name, laid on the versions' weights
//     in sorted order, so that a caller stays on one version and moving
//     weight between two versions moves only the callers it must.
//
// When the version a step picks has no live instance, the next step
// decides and the response says so (FallbackHeader); when no weighted
// version is live, the request goes to any live version. With no weights,
// the versions without an allow-list share the callers equally (sticky
// too). A version with an allow-list and no weight serves only its
// tenants (and pins).
type RoutingRules struct {
	// Header is the request header that pins a version. Default:
	// DefaultVersionHeader.
	Header string `json:"header,omitempty"`
	// Weights maps a version to its share of the traffic (relative
	// integers, 0 to MaxWeight; 90 and 10 is a 90/10 split). Versions
	// absent or at 0 get no weighted traffic.
	Weights map[string]int `json:"weights,omitempty"`
	// Sticky is user (default), tenant or none.
	Sticky Sticky `json:"sticky,omitempty"`
	// Tenants maps a version to the tenant IDs that always go to it (a
	// canary for chosen tenants). A tenant is listed under one version at
	// most. Other tenants follow the weights, which may give the version a
	// share too.
	Tenants map[string][]string `json:"tenants,omitempty"`
}

// PinHeader is the request header that pins a version.
func (r *RoutingRules) PinHeader() string {
	if r == nil || r.Header == "" {
		return DefaultVersionHeader
	}
	return r.Header
}

// ParseRoutingRules decodes and validates a stored value: unknown fields
// and trailing data are refused. The fault names every bad field.
func ParseRoutingRules(raw []byte) (*RoutingRules, error) {
	var r RoutingRules
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field == "" {
			return nil, fault.InvalidFields("The routing rules are invalid.", map[string]string{"value": "must be a JSON object with header, weights, sticky and tenants"})
		}
		if typ != nil {
			want := map[string]string{"header": "a string", "sticky": "a string", "weights": "an object of version → integer weight",
				"tenants": "an object of version → list of tenant IDs"}[strings.SplitN(typ.Field, ".", 2)[0]]
			return nil, fault.InvalidFields("The routing rules are invalid.", map[string]string{"value." + typ.Field: "must be " + cmp.Or(want, "of another type")})
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if _, unknown := strings.CutPrefix(msg, "unknown field "); unknown {
			msg = "has an " + msg + "; the fields are header, weights, sticky and tenants"
		} else {
			msg = "must be a routing rules object (" + msg + ")"
		}
		return nil, fault.InvalidFields("The routing rules are invalid.", map[string]string{"value": msg})
	}
	if dec.More() {
		return nil, fault.InvalidFields("The routing rules are invalid.", map[string]string{"value": "must hold one JSON object"})
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// ValidateRoutingJSON checks a value stored under RoutingKey; core's
// configuration center calls it before any write (a rollback too).
func ValidateRoutingJSON(raw json.RawMessage) error {
	_, err := ParseRoutingRules(raw)
	return err
}

// Validate checks the rules and returns an invalid fault naming every bad
// field ("value.weights.v2", …), or nil.
func (r *RoutingRules) Validate() error {
	bad := map[string]string{}
	if r.Header != "" && !validHeaderName(r.Header) {
		bad["value.header"] = "must be an HTTP header name of at most 64 letters, digits and '-'"
	}
	switch r.Sticky {
	case "", StickyUser, StickyTenant, StickyNone:
	default:
		bad["value.sticky"] = "must be user, tenant or none"
	}
	if len(r.Weights) > MaxRoutingVersions {
		bad["value.weights"] = fmt.Sprintf("must name at most %d versions", MaxRoutingVersions)
	}
	for v, w := range r.Weights {
		switch {
		case !validVersion(v):
			bad["value.weights"] = fmt.Sprintf("%q is not a version: 1-64 characters without spaces", v)
		case w < 0 || w > MaxWeight:
			bad["value.weights."+v] = fmt.Sprintf("must be between 0 and %d", MaxWeight)
		}
	}
	if len(r.Tenants) > MaxRoutingVersions {
		bad["value.tenants"] = fmt.Sprintf("must name at most %d versions", MaxRoutingVersions)
	}
	seen, total := map[string]string{}, 0
	for _, v := range slices.Sorted(mapKeys(r.Tenants)) {
		if !validVersion(v) {
			bad["value.tenants"] = fmt.Sprintf("%q is not a version: 1-64 characters without spaces", v)
			continue
		}
		for _, t := range r.Tenants[v] {
			total++
			switch {
			case t == "" || len(t) > 64 || hasControl(t) || strings.ContainsFunc(t, unicode.IsSpace):
				bad["value.tenants."+v] = fmt.Sprintf("%q is not a tenant ID", t)
			case seen[t] != "":
				bad["value.tenants."+v] = fmt.Sprintf("tenant %q is listed under %q already: a tenant goes to one version", t, seen[t])
			default:
				seen[t] = v
			}
		}
	}
	if total > MaxCanaryTenants {
		bad["value.tenants"] = fmt.Sprintf("must list at most %d tenants in all", MaxCanaryTenants)
	}
	if len(bad) > 0 {
		return fault.InvalidFields("The routing rules are invalid.", bad)
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// validVersion is the rule Instance.Validate applies to versions, but
// non-empty.
func validVersion(v string) bool {
	return v != "" && len(v) <= 64 && !strings.ContainsFunc(v, unicode.IsSpace) && !hasControl(v)
}

func validHeaderName(h string) bool {
	if len(h) > 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// RouteFacts is what Choose knows about a request.
type RouteFacts struct {
	Service string // salts the hash, so that services split independently
	Pin     string // the pin header's value, "" when absent
	UserID  string
	Tenant  string
	// Rand is a random number, used when the request has no sticky
	// identity.
	Rand uint64
}

// Choice is the version Choose picked.
type Choice struct {
	// Version is the version to route to; "" means any instance (no rule
	// applies).
	Version string
	// Fallback is set when the rules chose Wanted, which has no live
	// instance, and Version serves instead.
	Fallback bool
	Wanted   string
}

// Choose picks the version of a request. versions are the service's
// versions that have instances, sorted (unversioned instances left out);
// live reports whether one of them has an instance that can serve now. It
// returns a Choice with Version "" only when r is nil or no version is
// live: any instance then. It allocates nothing.
func Choose(r *RoutingRules, f RouteFacts, versions []string, live func(version string) bool) Choice {
	if r == nil {
		return Choice{}
	}
	var c Choice
	miss := func(v string) {
		if !c.Fallback {
			c.Fallback, c.Wanted = true, v
		}
	}
	found := func(v string) Choice { c.Version = v; return c }
	if f.Pin != "" {
		if live(f.Pin) {
			return found(f.Pin)
		}
		miss(f.Pin)
	}
	if f.Tenant != "" {
		for v, list := range r.Tenants {
			if slices.Contains(list, f.Tenant) {
				if live(v) {
					return found(v)
				}
				miss(v)
				break
			}
		}
	}
	point := r.unitPoint(f)
	if v := pick(r.Weights, point, nil); v != "" {
		if live(v) {
			return found(v)
		}
		miss(v)
		if w := pick(r.Weights, point, live); w != "" {
			return found(w)
		}
	} else if v := r.pickEven(versions, point, r.unreserved); v != "" {
		if live(v) {
			return found(v)
		}
		miss(v)
		if w := r.pickEven(versions, point, func(v string) bool { return r.unreserved(v) && live(v) }); w != "" {
			return found(w)
		}
	}
	if v := r.pickEven(versions, point, live); v != "" { // last resort: any live version
		if !c.Fallback {
			miss("")
		}
		return found(v)
	}
	return c
}

// unreserved reports whether version v is open to every tenant (has no
// allow-list).
func (r *RoutingRules) unreserved(v string) bool { return len(r.Tenants[v]) == 0 }

// pickEven gives the versions that ok accepts equal shares of [0,1) and
// returns the one point falls in, "" when ok accepts none.
func (r *RoutingRules) pickEven(versions []string, point float64, ok func(string) bool) string {
	n := 0
	for _, v := range versions {
		if ok(v) {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	i := min(int(point*float64(n)), n-1)
	for _, v := range versions {
		if ok(v) {
			if i == 0 {
				return v
			}
			i--
		}
	}
	return ""
}

// stickyKey is the identity that keeps the caller on one version and its
// kind ('u' user, 't' tenant); "" for none.
func (r *RoutingRules) stickyKey(f RouteFacts) (string, byte) {
	switch {
	case r.Sticky == StickyNone:
		return "", 0
	case r.Sticky == StickyTenant:
		return f.Tenant, 't'
	case f.UserID != "":
		return f.UserID, 'u'
	}
	return f.Tenant, 't'
}

// unitPoint maps the caller's sticky key, salted with the service, to
// [0,1); f.Rand when there is none. The hash (FNV-1a, then splitmix64's
// finaliser) is fixed: every gateway must place a caller alike.
func (r *RoutingRules) unitPoint(f RouteFacts) float64 {
	key, kind := r.stickyKey(f)
	x := f.Rand
	if key != "" {
		h := uint64(fnvOffset)
		h = fnvString(h, f.Service)
		h = (h ^ uint64(kind)) * fnvPrime
		h = fnvString(h, key)
		x = mix64(h)
	}
	return float64(x>>11) / (1 << 53)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// mix64 is splitmix64's finaliser: FNV's low-entropy keys (user-1,
// user-2, …) spread over the whole range.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// pick lays the weights of the versions (live ones only, when live is
// set) on [0,1) in version order and returns the one point falls in, ""
// when no weight is left.
func pick(weights map[string]int, point float64, live func(string) bool) string {
	total := 0
	for v, w := range weights {
		if w > 0 && (live == nil || live(v)) {
			total += w
		}
	}
	if total == 0 {
		return ""
	}
	target := int(point * float64(total))
	// Version order without sorting (no allocation): walk the versions
	// from the smallest name up.
	prev, acc := "", 0
	for {
		next, found := "", false
		for v, w := range weights {
			if w > 0 && v > prev && (!found || v < next) && (live == nil || live(v)) {
				next, found = v, true
			}
		}
		if !found {
			return prev // rounding at the very top
		}
		acc += weights[next]
		if target < acc {
			return next
		}
		prev = next
	}
}
