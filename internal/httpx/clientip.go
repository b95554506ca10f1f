package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// DefaultTrustedProxies are the proxies whose X-Forwarded-For is believed
// when none are configured: the gateway on the same host.
var DefaultTrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ClientIP returns the address of the client a request came from: its
// peer's, or — when the peer is a trusted proxy (the gateway) — the
// rightmost address of X-Forwarded-For that is not itself a trusted proxy.
// Entries a client wrote before reaching a trusted proxy are never taken.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		return err == nil && slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
	}
	if !isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if _, err := netip.ParseAddr(hop); err != nil {
			return peer // a malformed chain: do not guess
		}
		if !isTrusted(hop) {
			return hop
		}
	}
	return peer
}
