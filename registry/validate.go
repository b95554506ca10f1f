package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/plugboard/plugboard/internal/fault"
)

// NamePattern is the service-name rule as a regular expression, for the
// copies that must exist outside Go (the OpenAPI documents' "pattern"); a
// test checks that ValidName and every such copy agree with it.
const NamePattern = `^[a-z0-9][a-z0-9_-]{0,62}$`

// ValidName reports whether s is a valid service name: 1-63 lower-case
// letters, digits, '-' or '_', starting with a letter or digit
// (NamePattern). It is the one rule the registry, core's configuration
// and the gateway's routing share; it allocates nothing, for the gateway
// runs it on every request.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Limits on what one instance may hold.
const (
	MaxEndpoints    = 500
	MaxTags         = 32
	MaxMetadataSize = 64 << 10
)

// Methods are the HTTP methods an endpoint may declare.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// Validate checks in, as submitted, against the registry's domain rules
// and returns an invalid fault naming every bad field, or nil. It does not
// judge the host and the health check URL: which addresses are acceptable
// is the deployment's policy (registry/httpapi). Normalize it after.
func (in *Instance) Validate() error {
	if bad := in.Problems(); len(bad) > 0 {
		return fault.InvalidFields("The registration is invalid.", bad)
	}
	return nil
}

// Problems is Validate's per-field findings (field name → what is wrong),
// empty when in is valid.
func (in *Instance) Problems() map[string]string {
	bad := map[string]string{}
	switch {
	case in.Name == "":
		bad["name"] = "is required"
	case !ValidName(in.Name):
		bad["name"] = "must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
	}
	if len(in.DisplayName) > 200 || hasControl(in.DisplayName) {
		bad["display_name"] = "must be at most 200 printable characters"
	}
	if len(in.Version) > 64 || strings.ContainsFunc(in.Version, unicode.IsSpace) || hasControl(in.Version) {
		bad["version"] = "must be at most 64 characters without spaces"
	}
	if in.Port < 1 || in.Port > 65535 {
		bad["port"] = "must be between 1 and 65535"
	}
	if _, msg := CleanPath(in.BasePath, true); msg != "" {
		bad["base_path"] = msg
	}
	if m := strings.TrimSpace(string(in.Metadata)); m != "" && m != "null" {
		var obj map[string]json.RawMessage
		if json.Unmarshal(in.Metadata, &obj) != nil {
			bad["metadata"] = "must be a JSON object"
		} else if len(in.Metadata) > MaxMetadataSize {
			bad["metadata"] = fmt.Sprintf("must be at most %d bytes", MaxMetadataSize)
		}
	}
	switch in.UndeclaredPaths { // set, not left to the zero value's meaning
	case UndeclaredAuthenticated, UndeclaredDeny:
	default:
		bad["undeclared_paths"] = fmt.Sprintf("must be %q or %q", UndeclaredAuthenticated, UndeclaredDeny)
	}
	for k, v := range in.Resilience.Problems(nil) { // the caps are the deployment's (registry/httpapi)
		bad[k] = v
	}
	if len(in.Tags) > MaxTags {
		bad["tags"] = fmt.Sprintf("must hold at most %d tags", MaxTags)
	}
	for i, t := range in.Tags {
		if !validTag(t) {
			bad[fmt.Sprintf("tags[%d]", i)] = "must be 1-64 letters, digits or . _ : / = + -, starting with a letter or digit"
		}
	}
	if len(in.Endpoints) > MaxEndpoints {
		bad["endpoints"] = fmt.Sprintf("must hold at most %d endpoints", MaxEndpoints)
	}
	seen := map[string]int{}
	for i, e := range in.Endpoints {
		field := fmt.Sprintf("endpoints[%d]", i)
		method := endpointMethod(e.Method)
		if !slices.Contains(Methods, method) {
			bad[field+".method"] = fmt.Sprintf("%q is not one of %s", e.Method, strings.Join(Methods, ", "))
		}
		path := ""
		if e.Path == "" {
			bad[field+".path"] = "is required"
		} else if p, msg := CleanPath(e.Path, false); msg != "" {
			bad[field+".path"] = msg
		} else {
			path = p
		}
		if len(e.Description) > 1000 {
			bad[field+".description"] = "must be at most 1000 characters"
		}
		roles := 0
		for j, r := range e.RequiredRoles {
			if r = strings.TrimSpace(r); r == "" || len(r) > 64 || hasControl(r) {
				bad[fmt.Sprintf("%s.required_roles[%d]", field, j)] = "must be a role name of 1-64 characters"
			} else {
				roles++
			}
		}
		if e.IsPublic && roles > 0 {
			bad[field+".is_public"] = "a public endpoint cannot also require roles"
		}
		if e.RateLimit != nil {
			maps.Copy(bad, e.RateLimit.FieldProblems(field+".rate_limit"))
		}
		key := method + " " + path
		if j, dup := seen[key]; dup && path != "" {
			bad[field] = fmt.Sprintf("%s is also endpoints[%d]", key, j)
		}
		seen[key] = i
	}
	return bad
}

// Normalize puts a valid instance in the form the registry stores: the
// base path without its trailing slash, methods upper-case (GET when
// empty), role names trimmed, tags and roles without duplicates, and
// UndeclaredAuthenticated when UndeclaredPaths is empty.
func (in *Instance) Normalize() {
	if p, msg := CleanPath(in.BasePath, true); msg == "" {
		in.BasePath = p
	}
	if in.UndeclaredPaths == "" {
		in.UndeclaredPaths = UndeclaredAuthenticated
	}
	in.Tags = dedupe(in.Tags, func(t string) string { return t })
	in.Resilience.Normalize()
	if r := in.Resilience; r != nil && r.Timeout == "" && r.Retries == nil && r.RetryOn == nil {
		in.Resilience = nil
	}
	for i := range in.Endpoints {
		e := &in.Endpoints[i]
		e.Method = endpointMethod(e.Method)
		e.RequiredRoles = dedupe(e.RequiredRoles, strings.TrimSpace)
		if e.RequiredRoles == nil {
			e.RequiredRoles = []string{}
		}
	}
}

// endpointMethod is a declared method as the registry stores it.
func endpointMethod(m string) string {
	if m = strings.ToUpper(strings.TrimSpace(m)); m == "" {
		return "GET"
	}
	return m
}

// dedupe returns list's values through clean, in order, without repeats.
func dedupe(list []string, clean func(string) string) []string {
	var out []string
	for _, v := range list {
		if v = clean(v); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// validTag reports whether t matches ^[A-Za-z0-9][A-Za-z0-9._:/=+-]{0,63}$.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte("._:/=+-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// CleanPath checks a base (base true) or endpoint path and returns it
// normalised, or what is wrong with it: it must start with '/', and hold
// no '..' segment, empty segment, backslash, percent-escape, query,
// fragment, space or control character. A base path may be empty and
// loses its trailing slash ("/" becomes "").
func CleanPath(p string, base bool) (clean, problem string) {
	if p == "" && base {
		return "", ""
	}
	switch {
	case !strings.HasPrefix(p, "/"):
		return "", "must start with /"
	case len(p) > 512:
		return "", "must be at most 512 characters"
	case strings.ContainsAny(p, `\?#%`) || hasControl(p) || strings.ContainsFunc(p, unicode.IsSpace):
		return "", `must not contain \, ?, #, %, spaces or control characters`
	}
	trimmed := strings.TrimSuffix(p, "/")
	if trimmed != "" {
		for _, seg := range strings.Split(trimmed[1:], "/") {
			if seg == "" {
				return "", "must not contain //"
			}
			if seg == ".." || seg == "." {
				return "", "must not contain . or .. segments"
			}
		}
	}
	if base {
		return trimmed, ""
	}
	return p, ""
}

func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }
