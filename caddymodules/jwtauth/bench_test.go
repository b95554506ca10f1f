package jwtauth_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/core/coretest"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/registrytest"
)

// BenchmarkJWTAuthOverhead measures what jwt_auth costs the gateway. One
// Caddy serves the shipped Caddyfile twice: as shipped, and as a copy
// without the jwt_auth block. Real core and registry processes (in
// process) back it. Rounds interleave four targets, each loaded by 32
// keep-alive clients for a second: the gateway with a JWT (verified once,
// then from the token cache) and with an API key (checked with core once
// per key_cache_ttl), and the copy without jwt_auth sent the same
// requests. It reports requests per second of each and the two ratios.
//
//	go test ./caddymodules/jwtauth -run '^$' -bench JWTAuthOverhead -benchtime 1x
func BenchmarkJWTAuthOverhead(b *testing.B) {
	const rounds, perRound, clients = 6, time.Second, 32
	env := benchStack(b)
	// Each credential is sent to both gateways, so that the ratio measures
	// jwt_auth's work and not the bytes of a bigger request.
	bearer := http.Header{"Authorization": {"Bearer " + env.token}}
	apiKey := http.Header{"X-Api-Key": {env.key}}
	targets := []struct {
		name, url string
		header    http.Header
	}{
		{"none+jwt", env.plainURL, bearer},
		{"jwt", env.authURL, bearer},
		{"none+apikey", env.plainURL, apiKey},
		{"apikey", env.authURL, apiKey},
	}
	for _, t := range targets { // all three answer 200 before any counting
		if code := fire(b, t.url, t.header); code != 200 {
			b.Fatalf("%s: status %d", t.name, code)
		}
	}
	rates := map[string][]float64{}
	b.ResetTimer()
	for round := range rounds {
		// Alternate the order, so that neither side of a pair always runs
		// first (the first of a pair tends to find a busier machine).
		for i := range targets {
			t := targets[i]
			if round%2 == 1 {
				t = targets[i^1]
			}
			rates[t.name] = append(rates[t.name], load(b, t.url, t.header, clients, perRound))
		}
	}
	b.StopTimer()
	median := func(v []float64) float64 {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	ratio := func(name, base string) float64 {
		r := make([]float64, rounds)
		for i := range r {
			r[i] = rates[name][i] / rates[base][i]
		}
		return median(r)
	}
	for name, v := range rates {
		b.ReportMetric(median(v), name+"-req/s")
	}
	b.ReportMetric(ratio("jwt", "none+jwt"), "jwt×none")
	b.ReportMetric(ratio("apikey", "none+apikey"), "apikey×none")
}

type benchEnv struct {
	plainURL, authURL string
	token, key        string
}

// benchStack starts core, the registry, a 100-byte backend registered as
// "bench", and the gateway.
func benchStack(b *testing.B) benchEnv {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	coreHS := coretest.Start(b, coretest.Options{})

	regHS := registrytest.Start(b, registrytest.Options{Token: "bench-registry-token-0123"})

	body := bytes.Repeat([]byte("x"), 100)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	b.Cleanup(backend.Close)
	host, portStr, _ := net.SplitHostPort(backend.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if _, err := regHS.Client.Register(ctx, &registry.Instance{
		Name: "bench", Host: host, Port: port, Endpoints: []registry.Endpoint{{Path: "/users/{id}", Method: "GET"}},
	}); err != nil {
		b.Fatal(err)
	}

	token := coretest.Login(b, coreHS.URL, "admin", coretest.AdminPassword)
	key := coretest.Post(b, coreHS.URL+"/api/api-keys", token, map[string]any{"name": "bench", "scopes": []string{"core:admin"}})["key"].(string)

	authAddr, plainAddr := testenv.FreeAddr(b), testenv.FreeAddr(b)
	for k, v := range map[string]string{
		"PLUGBOARD_GATEWAY_SITE": "http://" + authAddr, "PLUGBOARD_GATEWAY_ADMIN": "off",
		"PLUGBOARD_REGISTRY_URL": regHS.URL, "PLUGBOARD_CORE_URL": coreHS.URL,
		"PLUGBOARD_GATEWAY_SIGNING_SECRET": "bench-signing-secret-0123456789", "PLUGBOARD_WEB_ROOT": b.TempDir(),
		"XDG_DATA_HOME": b.TempDir(), "XDG_CONFIG_HOME": b.TempDir(), "PLUGBOARD_REGISTRY_TOKEN": "bench-registry-token-0123",
	} {
		b.Setenv(k, v)
	}
	shipped, err := os.ReadFile("../../Caddyfile")
	if err != nil {
		b.Fatal(err)
	}
	text := string(shipped)
	site := text[strings.Index(text, "{$PLUGBOARD_GATEWAY_SITE"):]
	plain := regexp.MustCompile(`(?s)\n\t\tjwt_auth \{.*?\n\t\t\}`).ReplaceAllString(site, "")
	plain = strings.Replace(plain, "{$PLUGBOARD_GATEWAY_SITE:http://:8080}", "http://"+plainAddr, 1)
	if plain == site || strings.Contains(plain, "\n\t\tjwt_auth {") {
		b.Fatal("could not remove jwt_auth from the Caddyfile copy")
	}
	path := filepath.Join(b.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(text+"\n"+plain), 0o600); err != nil {
		b.Fatal(err)
	}
	gatewaytest.LoadCaddyfile(b, path, nil)
	env := benchEnv{plainURL: "http://" + plainAddr + "/api/bench/users/42", authURL: "http://" + authAddr + "/api/bench/users/42", token: token, key: key}
	testenv.Eventually(b, 10*time.Second, func() bool {
		return fire(b, env.authURL, http.Header{"Authorization": {"Bearer " + token}}) == 200
	}, "the gateway never routed the bench service")
	return env
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128}}

func fire(b *testing.B, url string, header http.Header) int {
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// load sends GETs from n clients for d and returns the rate of 200s.
func load(b *testing.B, url string, header http.Header, n int, d time.Duration) float64 {
	var ok atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if fire(b, url, header) == 200 {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / d.Seconds()
}
