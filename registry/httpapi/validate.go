package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/routes"
	"github.com/plugboard/plugboard/registry"
)

// ReservedNames returns the service names the platform's own routes use
// (internal/routes); no plugin may register them.
func ReservedNames() []string { return routes.Reserved() }

var (
	hostnamePattern = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)
)

// blocked are addresses no instance may use unless an allow-list names
// them: link-local (cloud metadata services live at 169.254.169.254),
// unspecified, multicast, and the metadata and platform services clouds
// put at ordinary addresses.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("fd00:ec2::/64"),      // AWS: IMDS (fd00:ec2::254), DNS, NTP over IPv6
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
	netip.MustParsePrefix("168.63.129.16/32"),   // Azure WireServer
	netip.MustParsePrefix("192.0.0.192/32"),     // Oracle Cloud (legacy) metadata
}

// blockedNames are the metadata services' host names, refused whether or
// not they resolve where the registry runs (they do where the gateway runs).
var blockedNames = map[string]bool{
	"metadata.google.internal":   true, // GCP
	"metadata.goog":              true, // GCP
	"metadata":                   true, // GCP, through the search domain
	"instance-data":              true, // AWS, through the search domain
	"instance-data.ec2.internal": true, // AWS
	"metadata.tencentyun.com":    true, // Tencent Cloud
}

// Listener is one address a platform process (the gateway, its admin API,
// the registry, core) listens on or is reached at. No instance may point
// at it: through the gateway that would expose it to anonymous clients.
type Listener struct {
	// Name says whose listener it is, for error messages.
	Name string
	// Host is an IP address or host name; "" means every interface of
	// this machine.
	Host string
	Port int
}

// AddressPolicy decides which instance addresses may be registered.
type AddressPolicy struct {
	// Allowed, when not empty, lists the only networks instances may be in;
	// a hostname must then resolve, and to allowed addresses only.
	Allowed []netip.Prefix
	// Protected are the platform's own listeners: an instance whose port is
	// a listener's port and whose host is that listener's host, or any
	// alias of this machine when the listener is on this machine (loopback,
	// localhost, unspecified, an interface address), is refused.
	Protected []Listener
	// DenyLoopback refuses loopback instance addresses altogether
	// (production); the embedded default allows them for local plugins.
	DenyLoopback bool
	// Lookup resolves a hostname (net.DefaultResolver.LookupNetIP when nil).
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// LocalAddrs returns this machine's interface addresses
	// (net.InterfaceAddrs when nil).
	LocalAddrs func() ([]netip.Addr, error)
	// Hostname is this machine's host name (os.Hostname when empty).
	Hostname string
}

// resolve returns host's addresses: itself when it is an IP address, else
// what it resolves to (ok is false when it does not resolve).
func (p AddressPolicy) resolve(ctx context.Context, host string) (addrs []netip.Addr, ok bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, true
	}
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
		return nil, false
	}
	for _, a := range found {
		addrs = append(addrs, a.Unmap())
	}
	return addrs, true
}

// isLoopbackName reports whether host names this machine's loopback
// interface by convention, resolvable or not.
func isLoopbackName(host string) bool {
	host = strings.ToLower(host)
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// local reports whether host (with its resolved addrs) is an alias of this
// machine: loopback, unspecified, one of its interface addresses, or its
// host name.
func (p AddressPolicy) local(host string, addrs []netip.Addr) bool {
	if host == "" || isLoopbackName(host) {
		return true
	}
	name := p.Hostname
	if name == "" {
		name, _ = os.Hostname()
	}
	if name != "" && strings.EqualFold(host, name) {
		return true
	}
	var mine []netip.Addr
	loaded := false
	for _, a := range addrs {
		if a.IsLoopback() || a.IsUnspecified() {
			return true
		}
		if !loaded {
			mine, loaded = p.localAddrs(), true
		}
		if slices.Contains(mine, a.WithZone("")) {
			return true
		}
	}
	return false
}

func (p AddressPolicy) localAddrs() []netip.Addr {
	if p.LocalAddrs != nil {
		addrs, _ := p.LocalAddrs()
		return addrs
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ia := range ifaddrs {
		if n, ok := ia.(*net.IPNet); ok {
			if a, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

// msgUnresolved refuses a hostname that does not resolve when only
// allowed networks are accepted.
const msgUnresolved = "does not resolve, so it cannot be checked against the allowed networks"

// check returns what is wrong with an instance at host, or "". host is
// already syntactically valid, without a trailing dot or zone.
func (p AddressPolicy) check(ctx context.Context, host string) string {
	if blockedNames[strings.ToLower(host)] {
		return fmt.Sprintf("%s is a cloud metadata service", host)
	}
	addrs, ok := p.resolve(ctx, host)
	if !ok && len(p.Allowed) > 0 {
		return msgUnresolved
	}
	// Names resolvable only where the gateway runs are let through, but
	// never "localhost" and its kin when loopback is refused.
	if p.DenyLoopback && isLoopbackName(host) {
		return fmt.Sprintf("%s is loopback, which this registry refuses", host)
	}
	for _, a := range addrs {
		if len(p.Allowed) > 0 {
			if !slices.ContainsFunc(p.Allowed, func(n netip.Prefix) bool { return n.Contains(a) }) {
				return fmt.Sprintf("address %s is outside the allowed networks", a)
			}
			continue
		}
		if slices.ContainsFunc(blocked, func(n netip.Prefix) bool { return n.Contains(a) }) {
			return fmt.Sprintf("address %s is link-local, unspecified, multicast or a cloud metadata service", a)
		}
		if p.DenyLoopback && a.IsLoopback() {
			return fmt.Sprintf("address %s is loopback, which this registry refuses", a)
		}
	}
	return ""
}

// checkListener returns what is wrong when host:port is one of the
// platform's own listeners, or "".
func (p AddressPolicy) checkListener(ctx context.Context, host string, port int) string {
	var addrs []netip.Addr
	var resolved, local, localKnown bool
	for _, l := range p.Protected {
		if l.Port != port {
			continue
		}
		if !resolved {
			addrs, _ = p.resolve(ctx, host)
			resolved = true
		}
		refuse := strings.EqualFold(l.Host, host)
		var laddrs []netip.Addr
		if !refuse && l.Host != "" {
			laddrs, _ = p.resolve(ctx, l.Host)
			refuse = slices.ContainsFunc(laddrs, func(a netip.Addr) bool { return slices.Contains(addrs, a) })
		}
		if !refuse && p.local(l.Host, laddrs) {
			if !localKnown {
				local, localKnown = p.local(host, addrs), true
			}
			refuse = local
		}
		if refuse {
			return fmt.Sprintf("%s is %s, one of the platform's own listeners", net.JoinHostPort(host, strconv.Itoa(port)), l.Name)
		}
	}
	return ""
}

// AddressProblem returns what the address policy refuses in a stored
// instance's host, port or health check URL, or "": instances registered
// before the policy (or its configuration) changed must not stay routable.
func (s *Server) AddressProblem(ctx context.Context, in *registry.Instance) string {
	host, msg := s.valid.checkHost(ctx, in.Host)
	if msg == msgUnresolved {
		msg = "" // DNS may be down for a moment: judge it when it registers again
	}
	if msg == "" {
		msg = s.valid.policy.checkListener(ctx, host, in.Port)
	}
	if msg != "" {
		return "host " + msg
	}
	if msg := s.valid.checkHealthURL(ctx, in.HealthCheckURL); msg != "" && !strings.HasSuffix(msg, msgUnresolved) {
		return "health_check_url " + msg
	}
	return ""
}

// validator turns a registry.Registration into an instance, or an invalid fault
// naming every bad field.
type validator struct {
	reserved   map[string]bool
	policy     AddressPolicy
	resilience *registry.ResilienceLimits
}

func newValidator(extraReserved []string, policy AddressPolicy, caps *registry.ResilienceLimits) *validator {
	if caps == nil {
		caps = &registry.DefaultResilienceLimits
	}
	v := &validator{reserved: map[string]bool{}, policy: policy, resilience: caps}
	for _, n := range append(ReservedNames(), extraReserved...) {
		if n = strings.TrimSpace(strings.ToLower(n)); n != "" {
			v.reserved[n] = true
		}
	}
	return v
}

func (v *validator) instance(ctx context.Context, req registry.Registration) (*registry.Instance, error) {
	in := &registry.Instance{
		Name:            req.Name,
		DisplayName:     strings.TrimSpace(req.DisplayName),
		Version:         strings.TrimSpace(req.Version),
		Host:            strings.TrimSpace(req.Host),
		Port:            req.Port,
		BasePath:        req.BasePath,
		HealthCheckURL:  strings.TrimSpace(req.HealthCheckURL),
		Metadata:        req.Metadata,
		Tags:            req.Tags,
		UndeclaredPaths: registry.UndeclaredAuthenticated,
		Resilience:      req.Resilience,
	}
	if req.UndeclaredPaths != nil {
		in.UndeclaredPaths = *req.UndeclaredPaths
	}
	if len(req.Endpoints) > 0 { // [] is stored as none, like an absent list
		in.Endpoints = req.Endpoints
	}
	bad := in.Problems()
	for k, msg := range in.Resilience.Problems(v.resilience) { // the deployment's caps
		bad[k] = msg
	}
	if bad["name"] == "" && v.reserved[req.Name] {
		bad["name"] = fmt.Sprintf("%q is reserved for the platform", req.Name)
	}
	if h, msg := v.checkHost(ctx, in.Host); msg != "" {
		bad["host"] = msg
	} else {
		in.Host = h
	}
	if bad["host"] == "" && bad["port"] == "" {
		if msg := v.policy.checkListener(ctx, in.Host, req.Port); msg != "" {
			bad["host"], bad["port"] = msg, msg
		}
	}
	if msg := v.checkHealthURL(ctx, in.HealthCheckURL); msg != "" {
		bad["health_check_url"] = msg
	}
	if len(bad) > 0 {
		return nil, fault.InvalidFields("The registration is invalid.", bad)
	}
	in.Normalize()
	return in, nil
}

// checkHost returns host normalised (without the trailing dot of a fully
// qualified name), or what is wrong with it.
func (v *validator) checkHost(ctx context.Context, host string) (string, string) {
	if host == "" {
		return "", "is required"
	}
	if strings.HasSuffix(host, ".") && !strings.HasSuffix(host, "..") {
		host = host[:len(host)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", "must not hold a zone identifier (%…): link-local addresses are refused"
		}
	} else if strings.Contains(host, "%") {
		return "", "must not hold a zone identifier (%…): link-local addresses are refused"
	} else if len(host) > 253 || !hostnamePattern.MatchString(host) {
		return "", "must be a hostname or an IP address, without scheme, port or path"
	} else if numericLabel(host) {
		// "127.1", "2130706433", "0x7f.1": resolvers built on inet_aton
		// read these as IPv4 addresses; only the dotted-quad form is taken.
		return "", "must be a hostname or an IP address in standard form (a.b.c.d or IPv6)"
	}
	return host, v.policy.check(ctx, host)
}

// numericLabel reports whether host is an IPv4 address in one of the
// non-standard forms inet_aton accepts (one to four parts, decimal, octal
// with a leading 0 or hex with 0x, the last part filling the remaining
// bytes), which resolvers built on it dial as that address.
func numericLabel(host string) bool {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return false
	}
	for i, p := range parts {
		bits := 8
		if i == len(parts)-1 {
			bits = 8 * (5 - len(parts))
		}
		if _, err := strconv.ParseUint(p, 0, bits); err != nil || strings.Contains(p, "_") {
			return false
		}
	}
	return true
}

func (v *validator) checkHealthURL(ctx context.Context, raw string) string {
	if raw == "" {
		return ""
	}
	if raw[0] == '/' {
		if _, msg := registry.CleanPath(raw, false); msg != "" {
			return msg
		}
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "must be a path such as /health, or an http(s) URL without credentials"
	}
	host, msg := v.checkHost(ctx, u.Hostname())
	if msg != "" {
		return "host " + msg
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if ps := u.Port(); ps != "" {
		if port, err = strconv.Atoi(ps); err != nil || port < 1 || port > 65535 {
			return "port must be between 1 and 65535"
		}
	}
	return v.policy.checkListener(ctx, host, port)
}
