package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/plugboard/plugboard/core/platform/fault"
	"github.com/plugboard/plugboard/registry"
)

// ReservedNames are the service names the platform's own routes use; no
// plugin may register them.
var ReservedNames = []string{"registry", "auth", "users", "tenants", "api-keys", "config", "roles", "audit"}

// Limits on what one registration may hold.
const (
	maxEndpoints    = 500
	maxTags         = 32
	maxMetadataSize = 64 << 10
)

var (
	namePattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	tagPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/=+-]{0,63}$`)
	hostnamePattern = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)
	knownMethods    = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// blocked are addresses no instance may use unless an allow-list names
// them: link-local (cloud metadata services live at 169.254.169.254),
// unspecified and multicast.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
}

// AddressPolicy decides which instance addresses may be registered.
type AddressPolicy struct {
	// Allowed, when not empty, lists the only networks instances may be in;
	// a hostname must then resolve, and to allowed addresses only.
	Allowed []netip.Prefix
	// Lookup resolves a hostname (net.DefaultResolver.LookupNetIP when nil).
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// check returns what is wrong with host, or "".
func (p AddressPolicy) check(ctx context.Context, host string) string {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		lookup := p.Lookup
		if lookup == nil {
			lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		found, err := lookup(ctx, host)
		if err != nil || len(found) == 0 {
			if len(p.Allowed) > 0 {
				return "does not resolve, so it cannot be checked against the allowed networks"
			}
			return "" // resolvable only where the gateway runs, perhaps
		}
		for _, a := range found {
			addrs = append(addrs, a.Unmap())
		}
	}
	for _, a := range addrs {
		if len(p.Allowed) > 0 {
			if !slices.ContainsFunc(p.Allowed, func(n netip.Prefix) bool { return n.Contains(a) }) {
				return fmt.Sprintf("address %s is outside the allowed networks", a)
			}
			continue
		}
		if slices.ContainsFunc(blocked, func(n netip.Prefix) bool { return n.Contains(a) }) {
			return fmt.Sprintf("address %s is link-local, unspecified or multicast", a)
		}
	}
	return ""
}

// registerRequest is the body of POST /api/registry/register: the seed's
// SERVICE_CONFIG plus base_path, health_check_url and tags.
type registerRequest struct {
	Name           string            `json:"name"`
	DisplayName    string            `json:"display_name"`
	Version        string            `json:"version"`
	Host           string            `json:"host"`
	Port           int               `json:"port"`
	BasePath       string            `json:"base_path"`
	HealthCheckURL string            `json:"health_check_url"`
	Endpoints      []endpointRequest `json:"endpoints"`
	Metadata       json.RawMessage   `json:"metadata"`
	Tags           []string          `json:"tags"`
}

type endpointRequest struct {
	Path          string          `json:"path"`
	Method        string          `json:"method"`
	Description   string          `json:"description"`
	RequiredRoles []string        `json:"required_roles"`
	IsPublic      bool            `json:"is_public"`
	RateLimit     json.RawMessage `json:"rate_limit"`
}

// validator turns a registerRequest into an instance, or an invalid fault
// naming every bad field.
type validator struct {
	reserved map[string]bool
	policy   AddressPolicy
}

func newValidator(extraReserved []string, policy AddressPolicy) *validator {
	v := &validator{reserved: map[string]bool{}, policy: policy}
	for _, n := range append(slices.Clone(ReservedNames), extraReserved...) {
		if n = strings.TrimSpace(strings.ToLower(n)); n != "" {
			v.reserved[n] = true
		}
	}
	return v
}

func (v *validator) instance(ctx context.Context, req registerRequest) (*registry.Instance, error) {
	bad := map[string]string{}
	in := &registry.Instance{
		Name:           req.Name,
		DisplayName:    strings.TrimSpace(req.DisplayName),
		Version:        strings.TrimSpace(req.Version),
		Host:           strings.TrimSpace(req.Host),
		Port:           req.Port,
		HealthCheckURL: strings.TrimSpace(req.HealthCheckURL),
		Metadata:       req.Metadata,
	}
	switch {
	case req.Name == "":
		bad["name"] = "is required"
	case !namePattern.MatchString(req.Name):
		bad["name"] = "must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
	case v.reserved[req.Name]:
		bad["name"] = fmt.Sprintf("%q is reserved for the platform", req.Name)
	}
	if len(in.DisplayName) > 200 || hasControl(in.DisplayName) {
		bad["display_name"] = "must be at most 200 printable characters"
	}
	if len(in.Version) > 64 || strings.ContainsFunc(in.Version, unicode.IsSpace) || hasControl(in.Version) {
		bad["version"] = "must be at most 64 characters without spaces"
	}
	if msg := v.checkHost(ctx, in.Host); msg != "" {
		bad["host"] = msg
	}
	if req.Port < 1 || req.Port > 65535 {
		bad["port"] = "must be between 1 and 65535"
	}
	if p, msg := cleanPath(req.BasePath, true); msg != "" {
		bad["base_path"] = msg
	} else {
		in.BasePath = p
	}
	if msg := v.checkHealthURL(ctx, in.HealthCheckURL); msg != "" {
		bad["health_check_url"] = msg
	}
	if m := strings.TrimSpace(string(req.Metadata)); m != "" && m != "null" {
		var obj map[string]json.RawMessage
		if json.Unmarshal(req.Metadata, &obj) != nil {
			bad["metadata"] = "must be a JSON object"
		} else if len(req.Metadata) > maxMetadataSize {
			bad["metadata"] = fmt.Sprintf("must be at most %d bytes", maxMetadataSize)
		}
	}
	if len(req.Tags) > maxTags {
		bad["tags"] = fmt.Sprintf("must hold at most %d tags", maxTags)
	}
	for i, t := range req.Tags {
		if !tagPattern.MatchString(t) {
			bad[fmt.Sprintf("tags[%d]", i)] = "must be 1-64 letters, digits or . _ : / = + -, starting with a letter or digit"
		} else if !slices.Contains(in.Tags, t) {
			in.Tags = append(in.Tags, t)
		}
	}
	if len(req.Endpoints) > maxEndpoints {
		bad["endpoints"] = fmt.Sprintf("must hold at most %d endpoints", maxEndpoints)
	}
	seen := map[string]int{}
	for i, e := range req.Endpoints {
		field := fmt.Sprintf("endpoints[%d]", i)
		ep := registry.Endpoint{
			Method: strings.ToUpper(strings.TrimSpace(e.Method)), Description: e.Description,
			RequiredRoles: []string{}, IsPublic: e.IsPublic, RateLimit: e.RateLimit,
		}
		if ep.Method == "" {
			ep.Method = "GET"
		}
		if !slices.Contains(knownMethods, ep.Method) {
			bad[field+".method"] = fmt.Sprintf("%q is not one of %s", e.Method, strings.Join(knownMethods, ", "))
		}
		if e.Path == "" {
			bad[field+".path"] = "is required"
		} else if p, msg := cleanPath(e.Path, false); msg != "" {
			bad[field+".path"] = msg
		} else {
			ep.Path = p
		}
		if len(e.Description) > 1000 {
			bad[field+".description"] = "must be at most 1000 characters"
		}
		for j, r := range e.RequiredRoles {
			if r = strings.TrimSpace(r); r == "" || len(r) > 64 || hasControl(r) {
				bad[fmt.Sprintf("%s.required_roles[%d]", field, j)] = "must be a role name of 1-64 characters"
			} else if !slices.Contains(ep.RequiredRoles, r) {
				ep.RequiredRoles = append(ep.RequiredRoles, r)
			}
		}
		if ep.IsPublic && len(ep.RequiredRoles) > 0 {
			bad[field+".is_public"] = "a public endpoint cannot also require roles"
		}
		if len(e.RateLimit) > 0 && !json.Valid(e.RateLimit) {
			bad[field+".rate_limit"] = "is not valid JSON"
		}
		key := ep.Method + " " + ep.Path
		if j, dup := seen[key]; dup && ep.Path != "" {
			bad[field] = fmt.Sprintf("%s is also endpoints[%d]", key, j)
		}
		seen[key] = i
		in.Endpoints = append(in.Endpoints, ep)
	}
	if len(bad) > 0 {
		return nil, fault.InvalidFields("The registration is invalid.", bad)
	}
	return in, nil
}

func (v *validator) checkHost(ctx context.Context, host string) string {
	if host == "" {
		return "is required"
	}
	if _, err := netip.ParseAddr(host); err != nil && (len(host) > 253 || !hostnamePattern.MatchString(host)) {
		return "must be a hostname or an IP address, without scheme, port or path"
	}
	return v.policy.check(ctx, host)
}

func (v *validator) checkHealthURL(ctx context.Context, raw string) string {
	if raw == "" {
		return ""
	}
	if raw[0] == '/' {
		if _, msg := cleanPath(raw, false); msg != "" {
			return msg
		}
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "must be a path such as /health, or an http(s) URL without credentials"
	}
	if msg := v.checkHost(ctx, u.Hostname()); msg != "" {
		return "host " + msg
	}
	return ""
}

// cleanPath checks a base or endpoint path and returns it normalised: it
// must start with '/', and hold no '..' segment, empty segment, backslash,
// percent-escape, query, fragment or control character. A base path loses
// its trailing slash ("/" becomes "").
func cleanPath(p string, base bool) (string, string) {
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
