package registryd_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testenv"
)

// catalogPage is GET /api/registry/catalog's answer.
type catalogPage struct {
	Items []struct {
		Name          string    `json:"name"`
		Instances     int       `json:"instances"`
		Healthy       int       `json:"healthy"`
		Unhealthy     int       `json:"unhealthy"`
		Versions      []string  `json:"versions"`
		Tags          []string  `json:"tags"`
		LastHeartbeat time.Time `json:"last_heartbeat"`
	} `json:"items"`
	Total    int   `json:"total"`
	Limit    int   `json:"limit"`
	Offset   int   `json:"offset"`
	Revision int64 `json:"revision"`
}

// historyEvent is one item of GET /api/registry/services/{id}/events.
type historyEvent struct {
	Revision int64     `json:"revision"`
	Type     string    `json:"type"`
	At       time.Time `json:"at"`
	Health   string    `json:"health"`
	IsActive bool      `json:"is_active"`
	Version  string    `json:"version"`
}

func (p catalogPage) names() []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.Name)
	}
	return out
}

// TestCatalogListPagingAndHistory covers what the console reads: the
// catalog (one summary per service, filtered, sorted, paged), the paged
// instance list and an instance's event history.
func TestCatalogListPagingAndHistory(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		probe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/ok" {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer probe.Close()
		rp := start(t, b.env(t), "PLUGBOARD_REGISTRY_HEALTH_INTERVAL", "50ms", "PLUGBOARD_REGISTRY_HEALTH_FAIL_AFTER", "1")
		rp.register("orders", 9001, map[string]any{"health_check_url": probe.URL + "/ok"})
		sick := rp.register("orders", 9002, map[string]any{"health_check_url": probe.URL + "/bad", "version": "1.1.0"})
		rp.register("billing", 9003, map[string]any{"tags": []string{"green", "blue"}, "version": "2.0.0"})
		rp.register("search", 9004, nil)
		testenv.Eventually(t, 10*time.Second, func() bool {
			var got instance
			rp.do("GET", "/api/registry/services/"+sick.ID, nil, token).Decode(t, &got)
			return got.Health == "unhealthy"
		}, "the failing instance never became unhealthy")

		catalog := func(query string) catalogPage {
			t.Helper()
			r := rp.do("GET", "/api/registry/catalog"+query, nil, token)
			if r.Status != 200 {
				t.Fatalf("catalog%s: %d %s", query, r.Status, r.Body)
			}
			var p catalogPage
			r.Decode(t, &p)
			return p
		}
		p := catalog("")
		if !slices.Equal(p.names(), []string{"orders", "billing", "search"}) || p.Total != 3 || p.Limit != 50 || p.Offset != 0 || p.Revision < 4 {
			t.Fatalf("default catalog (unhealthy first, then by name): %+v", p)
		}
		o := p.Items[0]
		if o.Instances != 2 || o.Healthy != 1 || o.Unhealthy != 1 || !slices.Equal(o.Versions, []string{"1.0.0", "1.1.0"}) ||
			!slices.Equal(o.Tags, []string{"blue"}) || o.LastHeartbeat.IsZero() {
			t.Fatalf("orders summary: %+v", o)
		}
		if got := catalog("?q=ill").names(); !slices.Equal(got, []string{"billing"}) {
			t.Errorf("q=ill: %v", got)
		}
		if got := catalog("?tag=green").Items; len(got) != 1 || got[0].Name != "billing" || !slices.Equal(got[0].Tags, []string{"blue", "green"}) {
			t.Errorf("tag=green: %+v", got)
		}
		if got := catalog("?version=1.1.0").Items; len(got) != 1 || got[0].Name != "orders" || got[0].Instances != 1 {
			t.Errorf("version=1.1.0 counts only matching instances: %+v", got)
		}
		for query, want := range map[string][]string{
			"?sort=name":                  {"billing", "orders", "search"},
			"?sort=name&order=desc":       {"search", "orders", "billing"},
			"?sort=instances&order=desc":  {"orders", "search", "billing"},
			"?sort=health&order=desc":     {"search", "billing", "orders"},
			"?sort=name&limit=1&offset=1": {"orders"},
			"?offset=5":                   nil,
			"?offset=9223372036854775807": nil,
		} {
			p := catalog(query)
			if !slices.Equal(p.names(), want) || p.Total != 3 {
				t.Errorf("catalog%s: %v (total %d), want %v", query, p.names(), p.Total, want)
			}
		}
		for query, field := range map[string]string{
			"?limit=0": "limit", "?limit=501": "limit", "?limit=x": "limit", "?offset=-1": "offset",
			"?sort=size": "sort", "?order=up": "order", "?q=": "q",
		} {
			r := rp.do("GET", "/api/registry/catalog"+query, nil, token)
			if r.Status != 422 || r.Problem(t).Errors[field] == "" {
				t.Errorf("catalog%s: %d %s, want 422 naming %s", query, r.Status, r.Body, field)
			}
		}
		if r := rp.do("GET", "/api/registry/catalog", nil, ""); r.Status != 401 {
			t.Errorf("catalog without a credential: %d", r.Status)
		}

		// The instance list: unchanged without paging, X-Total-Count with it.
		r := rp.do("GET", "/api/registry/services", nil, token)
		var all []instance
		r.Decode(t, &all)
		if len(all) != 4 || r.Header.Get("X-Total-Count") != "" {
			t.Fatalf("unpaged list: %d instances, X-Total-Count %q", len(all), r.Header.Get("X-Total-Count"))
		}
		for query, want := range map[string][]instance{
			"?limit=2": all[:2], "?limit=2&offset=2": all[2:], "?offset=3": all[3:], "?name=orders&limit=1&offset=1": all[2:3],
		} {
			r := rp.do("GET", "/api/registry/services"+query, nil, token)
			var got []instance
			r.Decode(t, &got)
			total := "4"
			if query[1:5] == "name" {
				total = "2"
			}
			if len(got) != len(want) || got[0].ID != want[0].ID || r.Header.Get("X-Total-Count") != total {
				t.Errorf("services%s: %d instances, X-Total-Count %q", query, len(got), r.Header.Get("X-Total-Count"))
			}
		}
		if r := rp.do("GET", "/api/registry/services?offset=9223372036854775807", nil, token); r.Status != 200 ||
			string(r.Body) != "[]\n" || r.Header.Get("X-Total-Count") != "4" {
			t.Errorf("services past the end: %d %s", r.Status, r.Body)
		}
		if r := rp.do("GET", "/api/registry/services?limit=0", nil, token); r.Status != 422 || r.Problem(t).Errors["limit"] == "" {
			t.Errorf("services?limit=0: %d %s", r.Status, r.Body)
		}

		// An instance's history, newest first.
		if r := rp.do("POST", "/api/registry/deregister/"+sick.ID, nil, token); r.Status != 200 {
			t.Fatalf("deregister: %d", r.Status)
		}
		type history struct {
			Items []historyEvent `json:"items"`
		}
		var h history
		rp.do("GET", "/api/registry/services/"+sick.ID+"/events", nil, token).Decode(t, &h)
		if n := len(h.Items); n < 3 || h.Items[0].Type != "deregistered" || h.Items[0].IsActive ||
			h.Items[n-1].Type != "registered" || h.Items[n-1].Version != "1.1.0" || h.Items[0].At.IsZero() {
			t.Fatalf("history: %+v", h.Items)
		}
		if !slices.ContainsFunc(h.Items, func(e historyEvent) bool {
			return e.Type == "health" && e.Health == "unhealthy"
		}) {
			t.Fatalf("history lacks the health change: %+v", h.Items)
		}
		for i := 1; i < len(h.Items); i++ {
			if h.Items[i].Revision >= h.Items[i-1].Revision {
				t.Fatalf("history not newest first: %+v", h.Items)
			}
		}
		var one history
		rp.do("GET", "/api/registry/services/"+sick.ID+"/events?limit=1", nil, token).Decode(t, &one)
		if len(one.Items) != 1 || one.Items[0].Revision != h.Items[0].Revision {
			t.Fatalf("history limit=1: %+v", one.Items)
		}
		if r := rp.do("GET", "/api/registry/services/nope/events", nil, token); r.Status != 404 {
			t.Errorf("history of an unknown instance: %d", r.Status)
		}
		if r := rp.do("GET", "/api/registry/services/"+sick.ID+"/events?limit=501", nil, token); r.Status != 422 {
			t.Errorf("history limit=501: %d", r.Status)
		}
	})
}
