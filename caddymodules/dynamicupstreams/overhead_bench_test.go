package dynamicupstreams_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// BenchmarkGatewayOverhead prices what the gateway adds to Caddy's own
// reverse_proxy, in one process, without the machine noise of bench/. One
// Caddy serves the shipped Caddyfile without its jwt_auth block (as
// bench/run.sh does) and, beside it, a plain `reverse_proxy` site to the
// same 100-byte backend; one keep-alive client sends GET /users/42 through
// each, one request at a time.
//
//	go test ./caddymodules/dynamicupstreams -run '^$' -bench GatewayOverhead -count 6
//
// allocs/op and B/op are exact (client and backend are the same on both
// sides, so the difference is the gateway's). ns/op is one request's
// wall-clock round trip, mostly waiting for wake-ups, and as noisy as the
// machine.
func BenchmarkGatewayOverhead(b *testing.B) {
	body := strings.Repeat("x", 100)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	b.Cleanup(be.Close)
	plainAddr := testenv.FreeAddr(b)
	noJWT := regexp.MustCompile(`(?s)\n\t\tjwt_auth \{.*?\n\t\t\}`)
	s := startStackEdited(b, func(shipped string) string {
		gw := noJWT.ReplaceAllString(shipped, "")
		if gw == shipped {
			b.Fatal("no jwt_auth block to take out of the Caddyfile")
		}
		return gw + fmt.Sprintf("\nhttp://%s {\n\treverse_proxy %s {\n\t\ttransport http {\n\t\t\tkeepalive_idle_conns_per_host 64\n\t\t}\n\t}\n}\n",
			plainAddr, be.Listener.Addr())
	}, "PLUGBOARD_GATEWAY_ACCESS_LOG", "discard")
	host, portStr, _ := net.SplitHostPort(be.Listener.Addr().String())
	var port int
	fmt.Sscan(portStr, &port)
	s.registerAt("v1", host, port, "")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(b *testing.B, url string) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != int64(len(body)) {
			b.Fatalf("%s: status %d, %d bytes", url, resp.StatusCode, n)
		}
	}
	targets := []struct{ name, url string }{
		{"caddy", "http://" + plainAddr + "/api/v1/users/42"},
		{"gateway", s.gateway + "/api/v1/users/42"},
	}
	testenv.Eventually(b, 5*time.Second, func() bool {
		resp, err := client.Get(targets[1].url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the gateway never routed v1")
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			for range 200 { // warm: connections, pools
				get(b, tg.url)
			}
			b.ReportAllocs()
			for b.Loop() {
				get(b, tg.url)
			}
		})
	}
}
