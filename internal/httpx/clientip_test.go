package httpx_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/plugboard/plugboard/internal/httpx"
)

func TestClientIP(t *testing.T) {
	trusted := append(httpx.DefaultTrustedProxies, netip.MustParsePrefix("10.0.0.0/8"))
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"direct client's forged header ignored", "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"through the local gateway", "127.0.0.1:4000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client-forged hop before the gateway", "127.0.0.1:4000", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"two trusted proxies", "127.0.0.1:4000", []string{"198.51.100.9, 10.1.2.3"}, "198.51.100.9"},
		{"gateway without header", "[::1]:4000", nil, "::1"},
		{"malformed chain", "127.0.0.1:4000", []string{"not-an-ip"}, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := httpx.ClientIP(r, trusted); got != tc.want {
				t.Fatalf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
