package traffic_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/plugboard/plugboard/caddymodules/traffic"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/registrytest"
)

// BenchmarkGatewayTraffic prices plugboard_traffic inside the gateway, in
// one process and without the machine noise of bench/: one Caddy serves
// the shipped Caddyfile without jwt_auth (as bench/run.sh does) on two
// sites, identical but for the plugboard_traffic line, to the same
// 100-byte backend; one keep-alive client sends GET /api/v1/users/42
// through each, one request at a time.
//
//	go test ./caddymodules/traffic -run '^$' -bench GatewayTraffic -count 6
//
// allocs/op and B/op are exact; ns/op is a wall-clock round trip, as noisy
// as the machine, so compare the two sites run after run. cpu-ns/op is the
// process's CPU time (user + system) per request: client, gateway and
// backend together, the same on both sites but for the handler, and far
// less sensitive to other load on the machine than the wall clock.
func BenchmarkGatewayTraffic(b *testing.B) {
	body := strings.Repeat("x", 100)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	b.Cleanup(be.Close)
	r := registrytest.Start(b, registrytest.Options{Token: regToken})
	regURL, reg := r.URL, r.Client
	host, portStr, _ := net.SplitHostPort(be.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if _, err := reg.Register(context.Background(), &registry.Instance{Name: "v1", Host: host, Port: port}); err != nil {
		b.Fatal(err)
	}

	with, without := testenv.FreeAddr(b), testenv.FreeAddr(b)
	for k, v := range map[string]string{
		"PLUGBOARD_GATEWAY_SITE": "http://" + with, "PLUGBOARD_GATEWAY_ADMIN": "off", "PLUGBOARD_GATEWAY_ACCESS_LOG": "discard",
		"PLUGBOARD_REGISTRY_URL": regURL, "PLUGBOARD_REGISTRY_TOKEN": regToken, "PLUGBOARD_CORE_URL": "http://127.0.0.1:1",
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": "traffic-bench-signing-secret-0123456789", "PLUGBOARD_REDIS_URL": "",
		"PLUGBOARD_DATA_DIR": b.TempDir(), "XDG_DATA_HOME": b.TempDir(), "XDG_CONFIG_HOME": b.TempDir(),
	} {
		b.Setenv(k, v)
	}
	shipped, err := os.ReadFile("../../Caddyfile")
	if err != nil {
		b.Fatal(err)
	}
	gw := regexp.MustCompile(`(?s)\n\t\tjwt_auth \{.*?\n\t\t\}`).ReplaceAllString(string(shipped), "")
	i := strings.Index(gw, "{$PLUGBOARD_GATEWAY_SITE")
	site := gw[i:]
	j := strings.Index(site, "}") + 1 // the address placeholder
	off := "http://" + without + strings.Replace(site[j:], "\n\tplugboard_traffic\n", "\n", 1)
	if off == "http://"+without+site[j:] {
		b.Fatal("no plugboard_traffic line in the shipped site")
	}
	path := filepath.Join(b.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(gw+"\n"+off), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := adapt(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { caddy.Stop() })

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string) error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != int64(len(body)) {
			return &statusError{url, resp.StatusCode}
		}
		return nil
	}
	for _, addr := range []string{with, without} {
		deadline := time.Now().Add(5 * time.Second)
		for get("http://"+addr+"/api/v1/users/42") != nil {
			if time.Now().After(deadline) {
				b.Fatalf("%s never routed v1", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, tg := range []struct{ name, addr string }{{"off", without}, {"on", with}} {
		b.Run(tg.name, func(b *testing.B) {
			url := "http://" + tg.addr + "/api/v1/users/42"
			for range 200 { // warm: connections, pools, the series
				if err := get(url); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu0 := traffic.CPUTime(b)
			for b.Loop() {
				if err := get(url); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(traffic.CPUTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
	// Both sites request after request, in alternating order, each
	// request's CPU time and wall time added to its site's: load on the
	// machine falls on both alike. on/off-cpu and on/off-wall are the
	// ratios (the throughput ratio is about their inverse).
	b.Run("interleaved", func(b *testing.B) {
		urls := [2]string{"http://" + without + "/api/v1/users/42", "http://" + with + "/api/v1/users/42"}
		var cpu, wall [2]time.Duration
		i := 0
		for b.Loop() {
			for k := range 2 {
				side := (i + k) % 2
				c0, w0 := traffic.CPUTime(b), time.Now()
				if err := get(urls[side]); err != nil {
					b.Fatal(err)
				}
				cpu[side] += traffic.CPUTime(b) - c0
				wall[side] += time.Since(w0)
			}
			i++
		}
		b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "on/off-cpu")
		b.ReportMetric(float64(wall[1])/float64(wall[0]), "on/off-wall")
		b.ReportMetric(float64(cpu[1]-cpu[0])/float64(b.N), "Δcpu-ns/req")
	})
}

type statusError struct {
	url    string
	status int
}

func (e *statusError) Error() string { return e.url + ": status " + strconv.Itoa(e.status) }
