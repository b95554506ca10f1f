package registryd_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRegisterResilience: a service asks for its upstream timeout and
// retries at registration; bad values and values above the platform's caps
// are refused with 422 problem+json naming the field (and the cap), and
// nothing is stored.
func TestRegisterResilience(t *testing.T) {
	t.Parallel()
	rp := start(t, map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir()},
		"PLUGBOARD_REGISTRY_MAX_TIMEOUT", "20s", "PLUGBOARD_REGISTRY_MAX_RETRIES", "2")
	for _, tc := range []struct {
		name       string
		resilience any
		field      string
		mentions   string // in the field's message
	}{
		{"timeout not a duration", map[string]any{"timeout": "soon"}, "resilience.timeout", "duration"},
		{"timeout a number", map[string]any{"timeout": 5}, "resilience.timeout", "string"},
		{"timeout zero", map[string]any{"timeout": "0s"}, "resilience.timeout", "at least"},
		{"timeout negative", map[string]any{"timeout": "-1s"}, "resilience.timeout", "at least"},
		{"timeout too short", map[string]any{"timeout": "1ms"}, "resilience.timeout", "at least 10ms"},
		{"timeout above the cap", map[string]any{"timeout": "21s"}, "resilience.timeout", "at most 20s"},
		{"retries negative", map[string]any{"retries": -1}, "resilience.retries", "0 or more"},
		{"retries above the cap", map[string]any{"retries": 3}, "resilience.retries", "at most 2"},
		{"retries a string", map[string]any{"retries": "2"}, "resilience.retries", "number"},
		{"retries null", map[string]any{"retries": nil}, "resilience.retries", "null"},
		{"retry_on unknown", map[string]any{"retry_on": []string{"503", "500"}}, "resilience.retry_on[1]", "not one of"},
		{"retry_on empty", map[string]any{"retry_on": []string{}}, "resilience.retry_on", "retries 0"},
		{"retry_on numbers", map[string]any{"retry_on": []int{503}}, "resilience.retry_on", "string"},
		{"unknown field", map[string]any{"try_forever": true}, "try_forever", "not a known field"}, // httpx names it bare
		{"not an object", "fast", "resilience", "object"},
		// The attack: a plugin asking the gateway to hold connections for an
		// hour, or to send every request a hundred times (amplification).
		{"attack: a one-hour timeout", map[string]any{"timeout": "1h"}, "resilience.timeout", "max_timeout"},
		{"attack: 100 retries", map[string]any{"retries": 100}, "resilience.retries", "max_retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := serviceConfig("orders", 9001)
			body["resilience"] = tc.resilience
			r := rp.do("POST", "/api/registry/register", body, token)
			if r.Status != 422 {
				t.Fatalf("status %d, want 422: %s", r.Status, r.Body)
			}
			p := r.Problem(t)
			if msg := p.Errors[tc.field]; !strings.Contains(msg, tc.mentions) {
				t.Fatalf("errors[%s] = %q, want it to mention %q: %s", tc.field, msg, tc.mentions, r.Body)
			}
		})
	}
	if r := rp.do("GET", "/api/registry/services?include_inactive=true", nil, token); string(r.Body) != "[]\n" {
		t.Fatalf("refused registrations left instances: %s", r.Body)
	}

	// Within the caps: stored and returned, repeats in retry_on dropped.
	in := rp.register("orders", 9001, map[string]any{"resilience": map[string]any{
		"timeout": "20s", "retries": 2, "retry_on": []string{"503", "timeout", "503"}}})
	r := rp.do("GET", "/api/registry/services/"+in.ID, nil, token)
	var got struct {
		Resilience json.RawMessage `json:"resilience"`
	}
	r.Decode(t, &got)
	if want := `{"timeout":"20s","retries":2,"retry_on":["503","timeout"]}`; string(got.Resilience) != want {
		t.Fatalf("resilience = %s, want %s", got.Resilience, want)
	}
	// An empty object is the defaults: not stored.
	rp.register("orders", 9001, map[string]any{"resilience": map[string]any{}})
	r = rp.do("GET", "/api/registry/services/"+in.ID, nil, token)
	got.Resilience = nil
	r.Decode(t, &got)
	if got.Resilience != nil {
		t.Fatalf("resilience {} stored as %s", got.Resilience)
	}
}

// TestResilienceCapsDefault: without configuration the caps are 60s and 3.
func TestResilienceCapsDefault(t *testing.T) {
	t.Parallel()
	rp := start(t, map[string]string{"PLUGBOARD_DATA_DIR": t.TempDir()})
	rp.register("orders", 9001, map[string]any{"resilience": map[string]any{"timeout": "60s", "retries": 3}})
	for field, res := range map[string]map[string]any{
		"resilience.timeout": {"timeout": "61s"}, "resilience.retries": {"retries": 4},
	} {
		body := serviceConfig("orders", 9002)
		body["resilience"] = res
		if r := rp.do("POST", "/api/registry/register", body, token); r.Status != 422 || r.Problem(t).Errors[field] == "" {
			t.Fatalf("%v: %d %s", res, r.Status, r.Body)
		}
	}
}
