package dynamicupstreams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/plugboard/plugboard/caddymodules/dynamicupstreams"
	"github.com/plugboard/plugboard/caddymodules/internal/gatewaytest"
	"github.com/plugboard/plugboard/internal/testenv"
	"github.com/plugboard/plugboard/registry"
)

// slowBackend answers 200 after delay.
func slowBackend(t *testing.T, delay time.Duration) *backend {
	t.Helper()
	b := &backend{name: "slow"}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		select {
		case <-time.After(delay):
			w.Write([]byte("finally"))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(b.Close)
	return b
}

// flakyBackend fails the first failures tries of each request (by its
// X-Request-Id, which every retry keeps) with 503, then answers 200.
type flakyBackend struct {
	*backend
	mu    sync.Mutex
	tries map[string]int
}

func newFlakyBackend(t *testing.T, failures int) *flakyBackend {
	t.Helper()
	f := &flakyBackend{backend: &backend{name: "flaky"}, tries: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		f.tries[r.Header.Get("X-Request-Id")]++
		n := f.tries[r.Header.Get("X-Request-Id")]
		f.mu.Unlock()
		if n <= failures {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(f.Close)
	return f
}

// triesOf is how many tries the request with id reached the backend.
func (f *flakyBackend) triesOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries[id]
}

// registerResilient registers b as name with res and waits until the
// gateway routes to it.
func (s *stack) registerResilient(name string, b *backend, res *registry.Resilience) {
	s.t.Helper()
	host, port := b.hostPort()
	_, err := s.registry.Register(context.Background(), &registry.Instance{
		Name: name, Host: host, Port: port, Metadata: json.RawMessage(`{"auth":"public"}`), Resilience: res,
	})
	if err != nil {
		s.t.Fatalf("register %s: %v", name, err)
	}
	testenv.Eventually(s.t, 2*time.Second, func() bool { return gatewayDials(name) == 1 }, name+" never routable")
}

func retries(n int) *int { return &n }

// TestServiceTimeouts: a service that asked for a 200ms timeout gets 504
// from a backend that takes longer, while another service on an equally
// slow backend, with the default (30s), gets its answer.
func TestServiceTimeouts(t *testing.T) {
	s := startStack(t)
	quick, patient := slowBackend(t, 700*time.Millisecond), slowBackend(t, 700*time.Millisecond)
	s.registerResilient("quick", quick, &registry.Resilience{Timeout: "200ms", Retries: retries(0)})
	s.registerResilient("patient", patient, nil)

	a := s.get("/api/quick/x")
	if a.status != http.StatusGatewayTimeout {
		t.Fatalf("quick: status %d %q, want 504", a.status, a.body)
	}
	if typ, _ := a.problem(t); typ == "" {
		t.Fatal("no problem type")
	}
	if a := s.get("/api/patient/x"); a.status != 200 || a.body != "finally" {
		t.Fatalf("patient: status %d %q, want 200", a.status, a.body)
	}
	if n := quick.hits.Load(); n != 1 {
		t.Fatalf("quick's backend got %d tries; a timeout is retried only with retry_on timeout", n)
	}

	// With "timeout" in retry_on and 1 retry: two tries, then 504.
	again := slowBackend(t, 700*time.Millisecond)
	s.registerResilient("again", again, &registry.Resilience{Timeout: "100ms", Retries: retries(1), RetryOn: []string{"timeout"}})
	if a := s.get("/api/again/x"); a.status != http.StatusGatewayTimeout || again.hits.Load() != 2 {
		t.Fatalf("again: status %d, %d tries; want 504 after 2", a.status, again.hits.Load())
	}
}

// TestServiceTimeoutIsToTheHeaders: the timeout runs from the request's
// last byte to the response's headers. A slow upload and a slow stream
// after the headers both outlast a 200ms timeout and are not cut.
func TestServiceTimeoutIsToTheHeaders(t *testing.T) {
	s := startStack(t)
	b := &backend{name: "stream"}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			io.Copy(w, r.Body)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 4 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond) // the stream outlasts the timeout
		}
	}))
	t.Cleanup(b.Close)
	s.registerResilient("stream", b, &registry.Resilience{Timeout: "200ms", Retries: retries(0)})

	if a := s.get("/api/stream/events"); a.status != 200 || strings.Count(a.body, "data: ") != 4 {
		t.Fatalf("stream: %d %q, want 4 events", a.status, a.body)
	}
	pr, pw := io.Pipe()
	go func() {
		for i := range 4 {
			fmt.Fprintf(pw, "part %d;", i)
			time.Sleep(150 * time.Millisecond) // the upload outlasts the timeout
		}
		pw.Close()
	}()
	if a := s.do("PUT", "/api/stream/upload", pr, nil); a.status != 200 || a.body != "part 0;part 1;part 2;part 3;" {
		t.Fatalf("slow upload: %d %q", a.status, a.body)
	}
}

// TestServiceRetries: a backend that fails each request's first two tries
// with 503 answers through the gateway as often as the service's retries
// allow: retries 0 → 503 (1 try), 1 → 503 (2), 2 → 200 (3), none given →
// the default 2. Non-idempotent methods and failures outside retry_on are
// never retried.
func TestServiceRetries(t *testing.T) {
	s := startStack(t)
	for _, tc := range []struct {
		name   string
		method string
		res    *registry.Resilience
		status int
		tries  int
	}{
		{"retries0", "GET", &registry.Resilience{Retries: retries(0)}, 503, 1},
		{"retries1", "GET", &registry.Resilience{Retries: retries(1)}, 503, 2},
		{"retries2", "GET", &registry.Resilience{Retries: retries(2)}, 200, 3},
		{"defaults", "GET", nil, 200, 3},
		{"post", "POST", &registry.Resilience{Retries: retries(2)}, 503, 1},
		{"only502", "GET", &registry.Resilience{Retries: retries(2), RetryOn: []string{"502"}}, 503, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlakyBackend(t, 2)
			s.registerResilient(tc.name, f.backend, tc.res)
			id := "resilience-" + tc.name
			a := s.do(tc.method, "/api/"+tc.name+"/x", nil, http.Header{"X-Request-Id": {id}})
			if a.status != tc.status || f.triesOf(id) != tc.tries {
				t.Fatalf("status %d after %d tries, want %d after %d: %s", a.status, f.triesOf(id), tc.status, tc.tries, a.body)
			}
		})
	}
}

// TestResilienceCappedAtTheGateway performs the attack against a gateway
// whose caps are below the registry's (a registry configured with higher
// caps, or an older one): a service asking for a long timeout or many
// retries gets the gateway's caps, not what it asked.
func TestResilienceCappedAtTheGateway(t *testing.T) {
	s := startStackWith(t, stackOptions{edit: func(c string) string {
		c = strings.Replace(c, "max_timeout {$PLUGBOARD_REGISTRY_MAX_TIMEOUT:60s}", "max_timeout 300ms", 1)
		c = strings.Replace(c, "\t\t\tretries 2\n", "\t\t\tretries 1\n", 1)
		return strings.Replace(c, "max_retries {$PLUGBOARD_REGISTRY_MAX_RETRIES:3}", "max_retries 1", 1)
	}}, "PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT", "100ms")

	slow := slowBackend(t, 3*time.Second)
	s.registerResilient("hold", slow, &registry.Resilience{Timeout: "50s", Retries: retries(0)}) // the registry allows 60s
	if a := s.get("/api/hold/x"); a.status != http.StatusGatewayTimeout {
		t.Fatalf("a 50s timeout against a 300ms cap: status %d %q, want 504", a.status, a.body)
	}

	f := newFlakyBackend(t, 3)
	s.registerResilient("amplify", f.backend, &registry.Resilience{Retries: retries(3)}) // the registry allows 3
	a := s.do("GET", "/api/amplify/x", nil, http.Header{"X-Request-Id": {"amplify-1"}})
	if a.status != 503 || f.triesOf("amplify-1") != 2 {
		t.Fatalf("3 retries against a cap of 1: status %d after %d tries, want 503 after 2", a.status, f.triesOf("amplify-1"))
	}
}

// TestResilienceConfig: the shipped Caddyfile's caps are the registry's
// defaults, and configurations that would not honour them are refused.
func TestResilienceConfig(t *testing.T) {
	startStack(t) // also sets the environment the loads below read
	app, err := caddy.ActiveContext().AppIfConfigured(dynamicupstreams.AppName)
	if err != nil {
		t.Fatal(err)
	}
	c := app.(*dynamicupstreams.App).Resilience
	if time.Duration(c.MaxTimeout) != registry.DefaultMaxTimeout || *c.MaxRetries != registry.DefaultMaxRetries ||
		time.Duration(c.Timeout) != 30*time.Second || *c.Retries != 2 {
		t.Fatalf("shipped resilience %+v: caps differ from the registry's defaults", c)
	}
	caddy.Stop()
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"timeout above max_timeout", "timeout {$PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT:30s}", "timeout 2m", "above max_timeout"},
		{"lb_retries below max_retries", "lb_retries {$PLUGBOARD_REGISTRY_MAX_RETRIES:3}", "lb_retries 1", "lb_retries must be at least"},
		{"response_header_timeout in plugboard_http", "dial_timeout 3s", "dial_timeout 3s\n\t\t\t\tresponse_header_timeout 5m", "response_header_timeout is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := gatewaytest.TryCaddyfile(t, "../../Caddyfile", func(c string) string { return strings.Replace(c, tc.from, tc.to, 1) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
