package registryd_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/testenv"
)

func TestRegisterListGet(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t))
		r := rp.do("POST", "/api/registry/register", serviceConfig("orders", 9001), token)
		if r.Status != http.StatusCreated || r.Header.Get("Location") == "" {
			t.Fatalf("first register: %d %s", r.Status, r.Body)
		}
		var first instance
		r.Decode(t, &first)
		if first.ID == "" || !first.IsActive || first.Health != "unknown" || first.BasePath != "/v1" ||
			len(first.Endpoints) != 2 || first.Endpoints[1].RequiredRoles[0] != "tenant_admin" || !first.Endpoints[0].IsPublic {
			t.Fatalf("registered instance: %s", r.Body)
		}

		// Registering the same name+host+port again updates in place.
		again := serviceConfig("orders", 9001)
		again["version"] = "1.1.0"
		r = rp.do("POST", "/api/registry/register", again, token)
		var second instance
		r.Decode(t, &second)
		if r.Status != http.StatusOK || second.ID != first.ID || second.Version != "1.1.0" {
			t.Fatalf("re-register: %d %s", r.Status, r.Body)
		}
		other := rp.register("orders", 9002, map[string]any{"version": "2.0.0", "tags": []string{"canary"}})
		billing := rp.register("billing", 9003, nil)

		list := func(query string) []string {
			t.Helper()
			r := rp.do("GET", "/api/registry/services"+query, nil, token)
			if r.Status != http.StatusOK || r.Header.Get("X-Registry-Revision") == "" {
				t.Fatalf("GET services%s: %d %s", query, r.Status, r.Body)
			}
			var got []instance
			r.Decode(t, &got)
			var ids []string
			for _, in := range got {
				ids = append(ids, in.ID)
			}
			return ids
		}
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", []string{billing.ID, first.ID, other.ID}},
			{"?name=orders", []string{first.ID, other.ID}},
			{"?version=2.0.0", []string{other.ID}},
			{"?tag=canary", []string{other.ID}},
			{"?tag=blue&name=orders", []string{first.ID}},
			{"?name=nope", nil},
		} {
			if got := list(tc.query); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("GET services%s = %v, want %v", tc.query, got, tc.want)
			}
		}
		if r := rp.do("GET", "/api/registry/services?include_inactive=maybe", nil, token); r.Status != 422 || r.Problem(t).Errors["include_inactive"] == "" {
			t.Errorf("include_inactive=maybe: %d %s", r.Status, r.Body)
		}

		r = rp.do("GET", "/api/registry/services/"+first.ID, nil, token)
		var got instance
		r.Decode(t, &got)
		if r.Status != 200 || got.ID != first.ID || string(got.Metadata) != `{"team":"a"}` {
			t.Fatalf("GET one: %d %s", r.Status, r.Body)
		}
		r = rp.do("GET", "/api/registry/services/nope", nil, token)
		if r.Status != 404 || r.Problem(t).Type != "/problems/not_found" {
			t.Fatalf("GET unknown: %d %s", r.Status, r.Body)
		}
	})
}

func TestWritesNeedTheToken(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t))
	in := rp.register("orders", 9001, nil)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/registry/register", `{}`},
		{"POST", "/api/registry/heartbeat", `{"service_id":"` + in.ID + `"}`},
		{"POST", "/api/registry/deregister/" + in.ID, ``},
	} {
		for _, auth := range []string{"", "wrong-token-0123456789"} {
			r := rp.do(tc.method, tc.path, tc.body, auth)
			if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with %q: %d, WWW-Authenticate %q", tc.method, tc.path, auth, r.Status, r.Header.Get("WWW-Authenticate"))
			}
			r.Problem(t)
		}
	}
	if r := rp.do("GET", "/api/registry/services/"+in.ID, nil, token); r.Status != 200 {
		t.Fatalf("the instance changed after refused writes: %d", r.Status)
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t), "PLUGBOARD_REGISTRY_RESERVED_NAMES", "billing, Internal")
		tests := []struct {
			name   string
			change func(m map[string]any)
			status int
			field  string
		}{
			{"name missing", func(m map[string]any) { delete(m, "name") }, 422, "name"},
			{"name with capitals", func(m map[string]any) { m["name"] = "Orders" }, 422, "name"},
			{"name with a slash", func(m map[string]any) { m["name"] = "a/b" }, 422, "name"},
			{"name too long", func(m map[string]any) { m["name"] = strings.Repeat("a", 64) }, 422, "name"},
			{"reserved name registry", func(m map[string]any) { m["name"] = "registry" }, 422, "name"},
			{"reserved name api-keys", func(m map[string]any) { m["name"] = "api-keys" }, 422, "name"},
			{"configured reserved name", func(m map[string]any) { m["name"] = "internal" }, 422, "name"},
			{"port zero", func(m map[string]any) { m["port"] = 0 }, 422, "port"},
			{"port too big", func(m map[string]any) { m["port"] = 65536 }, 422, "port"},
			{"port as a string", func(m map[string]any) { m["port"] = "80" }, 422, "port"},
			{"host missing", func(m map[string]any) { m["host"] = "" }, 422, "host"},
			{"host with scheme", func(m map[string]any) { m["host"] = "http://x.example" }, 422, "host"},
			{"host with port", func(m map[string]any) { m["host"] = "x.example:80" }, 422, "host"},
			{"host with space", func(m map[string]any) { m["host"] = "a b" }, 422, "host"},
			{"host cloud metadata", func(m map[string]any) { m["host"] = "169.254.169.254" }, 422, "host"},
			{"host unspecified", func(m map[string]any) { m["host"] = "0.0.0.0" }, 422, "host"},
			{"base path relative", func(m map[string]any) { m["base_path"] = "v1" }, 422, "base_path"},
			{"base path climbing", func(m map[string]any) { m["base_path"] = "/v1/../admin" }, 422, "base_path"},
			{"base path doubled slash", func(m map[string]any) { m["base_path"] = "/v1//x" }, 422, "base_path"},
			{"base path escaped", func(m map[string]any) { m["base_path"] = "/v1/%2e%2e" }, 422, "base_path"},
			{"base path backslash", func(m map[string]any) { m["base_path"] = `/v1\..` }, 422, "base_path"},
			{"health URL scheme", func(m map[string]any) { m["health_check_url"] = "ftp://127.0.0.1/x" }, 422, "health_check_url"},
			{"health URL at metadata service", func(m map[string]any) { m["health_check_url"] = "http://169.254.169.254/latest" }, 422, "health_check_url"},
			{"metadata not an object", func(m map[string]any) { m["metadata"] = []int{1} }, 422, "metadata"},
			{"bad tag", func(m map[string]any) { m["tags"] = []string{"ok", "not ok"} }, 422, "tags[1]"},
			{"unknown method", func(m map[string]any) {
				m["endpoints"] = []map[string]any{{"path": "/x", "method": "FETCH"}}
			}, 422, "endpoints[0].method"},
			{"endpoint path missing", func(m map[string]any) {
				m["endpoints"] = []map[string]any{{"method": "GET"}}
			}, 422, "endpoints[0].path"},
			{"endpoint path climbing", func(m map[string]any) {
				m["endpoints"] = []map[string]any{{"path": "/a/../b", "method": "GET"}}
			}, 422, "endpoints[0].path"},
			{"duplicate endpoint", func(m map[string]any) {
				m["endpoints"] = []map[string]any{{"path": "/x", "method": "GET"}, {"path": "/x", "method": "get"}}
			}, 422, "endpoints[1]"},
			{"public endpoint with roles", func(m map[string]any) {
				m["endpoints"] = []map[string]any{{"path": "/x", "is_public": true, "required_roles": []string{"user"}}}
			}, 422, "endpoints[0].is_public"},
			{"unknown field", func(m map[string]any) { m["hostname"] = "x" }, 422, "hostname"},
			{"undeclared_paths unknown", func(m map[string]any) { m["undeclared_paths"] = "open" }, 422, "undeclared_paths"},
			{"undeclared_paths in capitals", func(m map[string]any) { m["undeclared_paths"] = "DENY" }, 422, "undeclared_paths"},
			{"undeclared_paths not a string", func(m map[string]any) { m["undeclared_paths"] = true }, 422, "undeclared_paths"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				body := serviceConfig("orders", 9001)
				tc.change(body)
				r := rp.do("POST", "/api/registry/register", body, token)
				if r.Status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
				}
				if p := r.Problem(t); p.Errors[tc.field] == "" {
					t.Fatalf("problem does not name %s: %s", tc.field, r.Body)
				}
			})
		}
		for _, tc := range []struct {
			name, body string
			status     int
		}{
			{"malformed JSON", `{"name":`, 400},
			{"not JSON", `name=orders`, 400},
			{"empty body", ``, 400},
			{"two documents", `{} {}`, 400},
			{"too large", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := rp.do("POST", "/api/registry/register", tc.body, token)
				if r.Status != tc.status {
					t.Fatalf("status %d, want %d: %.200s", r.Status, tc.status, r.Body)
				}
				r.Problem(t)
			})
		}
		if r := rp.do("GET", "/api/registry/services?include_inactive=true", nil, token); string(r.Body) != "[]\n" {
			t.Fatalf("rejected registrations left instances: %s", r.Body)
		}
	})
}

func TestAllowedCIDRs(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t), "PLUGBOARD_REGISTRY_ALLOWED_CIDRS", "10.0.0.0/8,fd00::/8")
	for host, want := range map[string]int{"10.1.2.3": 201, "fd00::1": 201, "127.0.0.1": 422, "192.168.1.1": 422, "name.invalid": 422} {
		body := serviceConfig("orders", 9001)
		body["host"] = host
		if r := rp.do("POST", "/api/registry/register", body, token); r.Status != want {
			t.Errorf("host %s: %d, want %d: %s", host, r.Status, want, r.Body)
		}
	}
}

func TestHeartbeatAndDeregister(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t))
		in := rp.register("orders", 9001, nil)
		r := rp.do("POST", "/api/registry/heartbeat", map[string]string{"service_id": in.ID}, token)
		if r.Status != 200 {
			t.Fatalf("heartbeat: %d %s", r.Status, r.Body)
		}
		var got instance
		rp.do("GET", "/api/registry/services/"+in.ID, nil, token).Decode(t, &got)
		if !got.LastHeartbeat.After(in.LastHeartbeat) {
			t.Fatalf("last_heartbeat %v did not move past %v", got.LastHeartbeat, in.LastHeartbeat)
		}
		for _, tc := range []struct {
			name, body string
			status     int
			field      string
		}{
			{"unknown id", `{"service_id":"nope"}`, 404, ""},
			{"missing id", `{}`, 422, "service_id"},
			{"id of wrong type", `{"service_id":7}`, 422, "service_id"},
		} {
			r := rp.do("POST", "/api/registry/heartbeat", tc.body, token)
			if r.Status != tc.status {
				t.Errorf("heartbeat %s: %d %s", tc.name, r.Status, r.Body)
				continue
			}
			if p := r.Problem(t); tc.field != "" && p.Errors[tc.field] == "" {
				t.Errorf("heartbeat %s: problem does not name %s", tc.name, tc.field)
			}
		}

		r = rp.do("POST", "/api/registry/deregister/"+in.ID, nil, token)
		if r.Status != 200 {
			t.Fatalf("deregister: %d %s", r.Status, r.Body)
		}
		if r := rp.do("POST", "/api/registry/deregister/"+in.ID, nil, token); r.Status != 404 {
			t.Fatalf("second deregister: %d", r.Status)
		}
		if r := rp.do("POST", "/api/registry/deregister/nope", nil, token); r.Status != 404 {
			t.Fatalf("deregister unknown: %d", r.Status)
		}
		if r := rp.do("POST", "/api/registry/heartbeat", map[string]string{"service_id": in.ID}, token); r.Status != 404 {
			t.Fatalf("heartbeat after deregister: %d %s (the SDK needs 404 to re-register)", r.Status, r.Body)
		}
		if r := rp.do("GET", "/api/registry/services", nil, token); string(r.Body) != "[]\n" {
			t.Fatalf("deregistered instance still listed: %s", r.Body)
		}
		var all []instance
		rp.do("GET", "/api/registry/services?include_inactive=true", nil, token).Decode(t, &all)
		if len(all) != 1 || all[0].IsActive {
			t.Fatalf("include_inactive: %+v", all)
		}
		// Re-registering brings the same instance back.
		if back := rp.register("orders", 9001, nil); back.ID != in.ID || !back.IsActive {
			t.Fatalf("re-register after deregister: %+v", back)
		}
	})
}

// TestHeartbeatRightAfterDeregister makes the race behind a flake likely:
// a heartbeat sent the moment a deregistration is answered must get 404
// (the SDK re-registers on it), never a 200 from a feed that has not
// delivered the deregistration yet. Other writers keep the feed's loop busy
// meanwhile, as load did when the flake was seen.
func TestHeartbeatRightAfterDeregister(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					rp.do("POST", "/api/registry/register", serviceConfig("busy", 20000+w*1000+i%1000), token)
				}
			})
		}
		defer func() { close(stop); wg.Wait() }()
		for i := range 40 {
			in := rp.register("orders", 9100+i, nil)
			if r := rp.do("POST", "/api/registry/deregister/"+in.ID, nil, token); r.Status != 200 {
				t.Fatalf("deregister: %d %s", r.Status, r.Body)
			}
			if r := rp.do("POST", "/api/registry/heartbeat", map[string]string{"service_id": in.ID}, token); r.Status != 404 {
				t.Fatalf("round %d: heartbeat right after deregister: %d %s", i, r.Status, r.Body)
			}
		}
	})
}

func TestWatch(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t))
		a := rp.register("orders", 9001, nil)
		events, resp := rp.watch("", nil)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		ev := testenv.NextSSE(t, events, 5*time.Second)
		var snap struct {
			Revision  int64      `json:"revision"`
			Instances []instance `json:"instances"`
		}
		json.Unmarshal(ev.Data, &snap)
		if ev.Event != "snapshot" || snap.Revision != 1 || ev.ID != "1" || len(snap.Instances) != 1 || snap.Instances[0].ID != a.ID {
			t.Fatalf("first event: %s %s %s", ev.Event, ev.ID, ev.Data)
		}

		bInst := rp.register("billing", 9002, nil)
		ev = testenv.NextSSE(t, events, 5*time.Second)
		if ev.Event != "registered" || ev.ID != "2" || !strings.Contains(string(ev.Data), bInst.ID) {
			t.Fatalf("after register: %s %s %s", ev.Event, ev.ID, ev.Data)
		}
		rp.do("POST", "/api/registry/deregister/"+a.ID, nil, token)
		if ev = testenv.NextSSE(t, events, 5*time.Second); ev.Event != "deregistered" || ev.ID != "3" {
			t.Fatalf("after deregister: %s %s", ev.Event, ev.ID)
		}
		rp.register("orders", 9001, nil)
		if ev = testenv.NextSSE(t, events, 5*time.Second); ev.Event != "updated" || ev.ID != "4" {
			t.Fatalf("after re-register: %s %s", ev.Event, ev.ID)
		}

		// A client that reconnects with its last revision gets what it missed.
		missed, _ := rp.watch("?revision=2", nil)
		for _, want := range []string{"3:deregistered", "4:updated"} {
			if ev := testenv.NextSSE(t, missed, 5*time.Second); ev.ID+":"+ev.Event != want {
				t.Fatalf("resumed watch: got %s:%s, want %s", ev.ID, ev.Event, want)
			}
		}
		// EventSource's own reconnect header works the same.
		viaHeader, _ := rp.watch("", http.Header{"Last-Event-Id": {"3"}})
		if ev := testenv.NextSSE(t, viaHeader, 5*time.Second); ev.ID != "4" {
			t.Fatalf("Last-Event-ID resume: got %s:%s", ev.ID, ev.Event)
		}
		// A client ahead of the server starts over from a snapshot.
		ahead, _ := rp.watch("?revision=99", nil)
		if ev := testenv.NextSSE(t, ahead, 5*time.Second); ev.Event != "snapshot" || ev.ID != "4" {
			t.Fatalf("watch from a future revision: got %s:%s, want snapshot 4", ev.ID, ev.Event)
		}
		// A bad revision is refused.
		if _, resp := rp.watch("?revision=abc", nil); resp.StatusCode != 422 {
			t.Fatalf("bad revision: %d", resp.StatusCode)
		}
		// Shutdown tells watchers to reconnect.
		rp.srv.StartShutdown()
		for {
			ev, ok := <-events
			if !ok {
				t.Fatal("stream ended without a reconnect event")
			}
			if ev.Event == "reconnect" {
				break
			}
		}
	})
}

func TestWatchAfterPruningGetsASnapshot(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t), "PLUGBOARD_REGISTRY_EVENTS_KEPT", "100", "PLUGBOARD_REGISTRY_SWEEP_INTERVAL", "50ms")
	for i := range 130 {
		rp.register(fmt.Sprintf("svc-%d", i), 9000+i, nil)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		events, _ := rp.watch("?revision=5", nil)
		ev := testenv.NextSSE(t, events, 5*time.Second)
		return ev.Event == "snapshot"
	}, "a watcher resuming from a pruned revision never got a snapshot")
}

func TestInactiveInstancesExpire(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t), "PLUGBOARD_REGISTRY_INACTIVE_AFTER", "1s", "PLUGBOARD_REGISTRY_SWEEP_INTERVAL", "100ms")
		silent := rp.register("orders", 9001, nil)
		alive := rp.register("orders", 9002, nil)
		events, _ := rp.watch("?revision=2", nil)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
					rp.do("POST", "/api/registry/heartbeat", map[string]string{"service_id": alive.ID}, token)
				}
			}
		}()
		ev := testenv.NextSSE(t, events, 10*time.Second)
		if ev.Event != "expired" || !strings.Contains(string(ev.Data), silent.ID) {
			t.Fatalf("first event: %s %s", ev.Event, ev.Data)
		}
		var list []instance
		rp.do("GET", "/api/registry/services", nil, token).Decode(t, &list)
		if len(list) != 1 || list[0].ID != alive.ID {
			t.Fatalf("after expiry: %+v", list)
		}
		if r := rp.do("POST", "/api/registry/heartbeat", map[string]string{"service_id": silent.ID}, token); r.Status != 404 {
			t.Fatalf("heartbeat of an expired instance: %d", r.Status)
		}
	})
}

func TestActiveHealthChecks(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		var healthy atomic.Bool
		healthy.Store(true)
		probe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" || !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer probe.Close()
		rp := start(t, b.env(t), "PLUGBOARD_REGISTRY_HEALTH_INTERVAL", "50ms", "PLUGBOARD_REGISTRY_SWEEP_INTERVAL", "50ms")
		in := rp.register("orders", 9001, map[string]any{"health_check_url": probe.URL + "/health"})
		events, _ := rp.watch("?revision=1", nil)
		health := func() string {
			var got instance
			rp.do("GET", "/api/registry/services/"+in.ID, nil, token).Decode(t, &got)
			return got.Health
		}
		if ev := testenv.NextSSE(t, events, 5*time.Second); ev.Event != "health" || !strings.Contains(string(ev.Data), `"health":"healthy"`) {
			t.Fatalf("first health event: %s %s", ev.Event, ev.Data)
		}
		healthy.Store(false)
		if ev := testenv.NextSSE(t, events, 5*time.Second); ev.Event != "health" || !strings.Contains(string(ev.Data), `"health":"unhealthy"`) {
			t.Fatalf("second health event: %s %s", ev.Event, ev.Data)
		}
		if h := health(); h != "unhealthy" {
			t.Fatalf("health = %s", h)
		}
		healthy.Store(true)
		if ev := testenv.NextSSE(t, events, 5*time.Second); !strings.Contains(string(ev.Data), `"health":"healthy"`) {
			t.Fatalf("recovery event: %s %s", ev.Event, ev.Data)
		}
	})
}

func TestTwoReplicasShareOneFeed(t *testing.T) {
	t.Parallel()
	env := backends[1].env(t)
	a, b := start(t, env), start(t, env)
	events, _ := b.watch("", nil)
	if ev := testenv.NextSSE(t, events, 5*time.Second); ev.Event != "snapshot" {
		t.Fatalf("first event on B: %s", ev.Event)
	}
	in := a.register("orders", 9001, nil)
	ev := testenv.NextSSE(t, events, 5*time.Second)
	if ev.Event != "registered" || !strings.Contains(string(ev.Data), in.ID) {
		t.Fatalf("B's watcher saw %s %s", ev.Event, ev.Data)
	}
	// A heartbeat may land on either replica.
	if r := b.do("POST", "/api/registry/heartbeat", map[string]string{"service_id": in.ID}, token); r.Status != 200 {
		t.Fatalf("heartbeat on B for an instance registered on A: %d %s", r.Status, r.Body)
	}
	b.do("POST", "/api/registry/deregister/"+in.ID, nil, token)
	// A learns of it through the feed, within milliseconds.
	testenv.Eventually(t, time.Second, func() bool {
		return a.do("POST", "/api/registry/heartbeat", map[string]string{"service_id": in.ID}, token).Status == 404
	}, "A kept accepting heartbeats of an instance deregistered on B")
}

func TestGeneratedTokenIsKept(t *testing.T) {
	t.Parallel()
	env := backends[0].env(t)
	delete(env, "PLUGBOARD_REGISTRY_TOKEN")
	rp := start(t, env, "PLUGBOARD_REGISTRY_TOKEN", "")
	raw, err := os.ReadFile(filepath.Join(env["PLUGBOARD_DATA_DIR"], "registry.token"))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(raw))
	if r := rp.do("POST", "/api/registry/register", serviceConfig("orders", 9001), tok); r.Status != 201 {
		t.Fatalf("register with the generated token: %d %s", r.Status, r.Body)
	}
	info, _ := os.Stat(filepath.Join(env["PLUGBOARD_DATA_DIR"], "registry.token"))
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", info.Mode().Perm())
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t))
		for _, p := range []string{"/healthz", "/readyz", "/api/registry/openapi.json"} {
			if r := rp.do("GET", p, nil, ""); r.Status != 200 {
				t.Errorf("GET %s: %d %s", p, r.Status, r.Body)
			}
		}
	})
}

// TestAddressBlocklist registers the addresses issue 11 (finding 12) got
// past the blocklist: zone identifiers, AWS's IPv6 metadata service, the
// metadata services' names, trailing dots, and non-standard IPv4 forms.
func TestAddressBlocklist(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t))
	for _, tc := range []struct {
		name, field, value string
	}{
		{"zone identifier", "host", "fe80::1%lo"},
		{"escaped zone identifier", "host", "fe80::1%25eth0"},
		{"zone on a global address", "host", "2001:db8::1%eth0"},
		{"AWS IMDS over IPv6", "host", "fd00:ec2::254"},
		{"AWS IMDS over IPv6, mapped form", "host", "fd00:ec2:0:0:0:0:0:254"},
		{"GCP metadata name", "host", "metadata.google.internal"},
		{"GCP metadata name, capitals and dot", "host", "Metadata.Google.Internal."},
		{"GCP metadata short name", "host", "metadata"},
		{"AWS metadata name", "host", "instance-data.ec2.internal"},
		{"metadata address with a trailing dot", "host", "169.254.169.254."},
		{"Alibaba metadata", "host", "100.100.100.200"},
		{"Azure WireServer", "host", "168.63.129.16"},
		{"Oracle legacy metadata", "host", "192.0.0.192"},
		{"IPv4-mapped metadata address", "host", "::ffff:169.254.169.254"},
		{"short IPv4 form", "host", "169.254.43518"},
		{"decimal IPv4 form", "host", "2852039166"},
		{"hex IPv4 form", "host", "0xa9.0xfe.0xa9.0xfe"},
		{"octal IPv4 form", "host", "0251.0376.0251.0376"},
		{"short hex loopback form", "host", "0x7f.1"},
		{"health URL with a zone", "health_check_url", "http://[fe80::1%25lo]/"},
		{"health URL at GCP metadata", "health_check_url", "http://metadata.google.internal/computeMetadata/v1/"},
		{"health URL at AWS IPv6 IMDS", "health_check_url", "http://[fd00:ec2::254]/latest/meta-data/"},
		{"health URL with a trailing dot", "health_check_url", "http://169.254.169.254./latest/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := serviceConfig("orders", 9001)
			body[tc.field] = tc.value
			r := rp.do("POST", "/api/registry/register", body, token)
			if r.Status != 422 || r.Problem(t).Errors[tc.field] == "" {
				t.Fatalf("%s %q: %d %s, want 422 naming %s", tc.field, tc.value, r.Status, r.Body, tc.field)
			}
		})
	}
	// Names that only look numeric stay names (a container's hostname).
	for i, host := range []string{"123456789012", "1.2.3.4.5", "08.1"} {
		body := serviceConfig("numeric", 9100+i)
		body["host"] = host
		if r := rp.do("POST", "/api/registry/register", body, token); r.Status != 201 {
			t.Errorf("host %s: %d %s", host, r.Status, r.Body)
		}
	}
	// A fully qualified name is stored without its trailing dot.
	body := serviceConfig("orders", 9001)
	body["host"] = "orders.example."
	r := rp.do("POST", "/api/registry/register", body, token)
	var in instance
	r.Decode(t, &in)
	if r.Status != 201 || in.Host != "orders.example" {
		t.Fatalf("trailing dot: %d %s", r.Status, r.Body)
	}
	if r := rp.do("GET", "/api/registry/services?name=orders", nil, token); strings.Count(string(r.Body), `"id"`) != 1 {
		t.Fatalf("refused registrations left instances: %s", r.Body)
	}
}

// TestOwnListenersRefused performs issue 11's finding 1: an instance at the
// gateway's admin API (or core, the registry, the gateway itself), under
// any alias of this machine, would expose it through the gateway to
// anonymous clients. The listeners here are real servers.
func TestOwnListenersRefused(t *testing.T) {
	t.Parallel()
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the admin API was called: %s %s", r.Method, r.URL)
	}))
	defer admin.Close()
	_, adminPort, _ := net.SplitHostPort(strings.TrimPrefix(admin.URL, "http://"))
	rp := start(t, backends[0].env(t),
		"PLUGBOARD_GATEWAY_ADMIN", strings.TrimPrefix(admin.URL, "http://"),
		"PLUGBOARD_GATEWAY_SITE", "http://:18080",
		"PLUGBOARD_CORE_URL", "http://localhost:18082",
		"PLUGBOARD_REGISTRY_PROTECTED_ADDRS", "gateway.internal:2020, http://core.internal:9090")
	var ifaddr string
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				ifaddr = n.IP.String()
				break
			}
		}
	}
	port, _ := strconv.Atoi(adminPort)
	tests := []struct {
		host string
		port int
	}{
		{"127.0.0.1", port}, {"localhost", port}, {"LocalHost.", port}, {"::1", port},
		{"127.0.0.2", port}, {"::ffff:127.0.0.1", port}, {"app.localhost", port},
		{"127.0.0.1", 18080}, {"::1", 18080}, // the gateway's site, every interface
		{"127.0.0.1", 18082},                                // core, by PLUGBOARD_CORE_URL
		{"127.0.0.1", 8081},                                 // the registry's own listen address
		{"127.0.0.1", 8082},                                 // core's default listen address
		{"gateway.internal", 2020}, {"core.internal", 9090}, // PLUGBOARD_REGISTRY_PROTECTED_ADDRS
	}
	if ifaddr != "" {
		tests = append(tests, struct {
			host string
			port int
		}{ifaddr, port})
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		tests = append(tests, struct {
			host string
			port int
		}{name, 18080})
	}
	for _, tc := range tests {
		body := serviceConfig("cadm", tc.port)
		body["host"], body["base_path"] = tc.host, ""
		r := rp.do("POST", "/api/registry/register", body, token)
		if r.Status != 422 || !strings.Contains(r.Problem(t).Errors["host"], strconv.Itoa(tc.port)) || r.Problem(t).Errors["port"] == "" {
			t.Errorf("instance at %s port %d: %d %s, want 422 naming host and port", tc.host, tc.port, r.Status, r.Body)
		}
	}
	for _, u := range []string{admin.URL + "/config/", "http://localhost:" + adminPort + "/load", "http://[::1]:18080/", "http://127.0.0.1:8081/api/registry/services"} {
		body := serviceConfig("cadm", 9001)
		body["health_check_url"] = u
		if r := rp.do("POST", "/api/registry/register", body, token); r.Status != 422 || r.Problem(t).Errors["health_check_url"] == "" {
			t.Errorf("health_check_url %s: %d %s", u, r.Status, r.Body)
		}
	}
	// Loopback stays allowed on other ports (local plugins), and other
	// hosts on the listeners' ports.
	for _, tc := range []struct {
		host string
		port int
	}{{"127.0.0.1", 9001}, {"localhost", 9002}, {"10.0.0.7", port}, {"10.0.0.7", 8081}} {
		body := serviceConfig("cadm", tc.port)
		body["host"] = tc.host
		if r := rp.do("POST", "/api/registry/register", body, token); r.Status != 201 {
			t.Errorf("instance at %s port %d: %d %s, want 201", tc.host, tc.port, r.Status, r.Body)
		}
	}
}

// TestLoopbackRefusedInProduction: PLUGBOARD_REGISTRY_ALLOW_LOOPBACK=false
// refuses every loopback alias.
func TestLoopbackRefusedInProduction(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t), "PLUGBOARD_REGISTRY_ALLOW_LOOPBACK", "false")
	for host, want := range map[string]int{"127.0.0.1": 422, "127.9.9.9": 422, "::1": 422, "localhost": 422,
		"localhost.": 422, "x.localhost": 422, "::ffff:127.0.0.1": 422, "10.0.0.7": 201} {
		body := serviceConfig("orders", 9001)
		body["host"] = host
		if r := rp.do("POST", "/api/registry/register", body, token); r.Status != want {
			t.Errorf("host %s: %d, want %d: %s", host, r.Status, want, r.Body)
		}
	}
	body := serviceConfig("orders", 9001)
	body["host"], body["health_check_url"] = "10.0.0.7", "http://127.0.0.1:9001/health"
	if r := rp.do("POST", "/api/registry/register", body, token); r.Status != 422 {
		t.Errorf("loopback health URL: %d %s", r.Status, r.Body)
	}
}

// TestUndeclaredPaths: the service's policy for undeclared paths is
// stored, defaults to "authenticated", and reaches the gateway in the
// list and the change feed.
func TestUndeclaredPaths(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		rp := start(t, b.env(t))
		if in := rp.register("orders", 9001, nil); in.Undeclared != "authenticated" {
			t.Fatalf("default undeclared_paths = %q", in.Undeclared)
		}
		in := rp.register("orders", 9001, map[string]any{"undeclared_paths": "deny"})
		if in.Undeclared != "deny" {
			t.Fatalf("undeclared_paths = %q, want deny", in.Undeclared)
		}
		var got instance
		rp.do("GET", "/api/registry/services/"+in.ID, nil, token).Decode(t, &got)
		if got.Undeclared != "deny" {
			t.Fatalf("GET: undeclared_paths = %q", got.Undeclared)
		}
		events, _ := rp.watch("", nil)
		snap := testenv.NextSSE(t, events, 5*time.Second)
		if snap.Event != "snapshot" || !strings.Contains(string(snap.Data), `"undeclared_paths":"deny"`) {
			t.Fatalf("snapshot: %s %s", snap.Event, snap.Data)
		}
		rp.register("orders", 9001, map[string]any{"undeclared_paths": "authenticated"})
		if ev := testenv.NextSSE(t, events, 5*time.Second); ev.Event != "updated" || !strings.Contains(string(ev.Data), `"undeclared_paths":"authenticated"`) {
			t.Fatalf("event: %s %s", ev.Event, ev.Data)
		}
	})
}

// TestRefusedInstancesAreRetired: an instance registered before the
// listener check (or before the configuration protected its address)
// stays routable through its heartbeats; a registry that starts with the
// policy deregisters it.
func TestRefusedInstancesAreRetired(t *testing.T) {
	t.Parallel()
	env := backends[0].env(t)
	old := start(t, env)
	bad := old.register("cadm", 9001, map[string]any{"base_path": ""})
	good := old.register("orders", 9002, nil)
	rp := start(t, env, "PLUGBOARD_REGISTRY_PROTECTED_ADDRS", "127.0.0.1:9001")
	testenv.Eventually(t, 5*time.Second, func() bool {
		var got instance
		rp.do("GET", "/api/registry/services/"+bad.ID, nil, token).Decode(t, &got)
		return !got.IsActive
	}, "the instance at a protected address stayed active")
	var got instance
	rp.do("GET", "/api/registry/services/"+good.ID, nil, token).Decode(t, &got)
	if !got.IsActive {
		t.Fatal("an allowed instance was deregistered")
	}
}

// TestTwoCredentialsAreRefused: the registry token beside an API key is
// refused with 401, as jwt_auth and core refuse two credentials
// (credential.Parse), rather than acting as whichever the server prefers.
func TestTwoCredentialsAreRefused(t *testing.T) {
	t.Parallel()
	rp := start(t, backends[0].env(t))
	for _, hdrs := range [][][2]string{
		{{"Authorization", "Bearer " + token}, {"X-API-Key", "pb_live_whatever"}},
		{{"Authorization", "Bearer " + token}, {"Authorization", "Bearer " + token}},
		{{"Authorization", "Basic " + token}},
	} {
		for _, path := range []string{"/api/registry/services", "/api/registry/deregister/x"} {
			method := "GET"
			if strings.Contains(path, "deregister") {
				method = "POST"
			}
			req, _ := http.NewRequest(method, rp.URL+path, nil)
			for _, h := range hdrs {
				req.Header.Add(h[0], h[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := testenv.Read(t, resp)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s %s with %v: %d %s", method, path, hdrs, r.Status, r.Body)
				continue
			}
			if p := r.Problem(t); p.Detail != credential.InvalidMessage {
				t.Errorf("%s %s: detail %q", method, path, p.Detail)
			}
		}
	}
}
