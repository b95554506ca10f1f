package registry

import (
	"testing"
	"time"
)

func TestResilienceProblems(t *testing.T) {
	n := func(v int) *int { return &v }
	caps := &ResilienceLimits{MaxTimeout: 5 * time.Second, MaxRetries: 2}
	for _, tc := range []struct {
		name  string
		r     *Resilience
		lim   *ResilienceLimits
		field string // "" when valid
	}{
		{"nil", nil, caps, ""},
		{"empty", &Resilience{}, caps, ""},
		{"at the caps", &Resilience{Timeout: "5s", Retries: n(2), RetryOn: RetryOnValues}, caps, ""},
		{"zero retries", &Resilience{Retries: n(0)}, caps, ""},
		{"no caps: shape only", &Resilience{Timeout: "1h", Retries: n(100)}, nil, ""},
		{"zero cap on retries", &Resilience{Retries: n(1)}, &ResilienceLimits{MaxTimeout: time.Second}, "resilience.retries"},
		{"timeout unit missing", &Resilience{Timeout: "5"}, caps, "resilience.timeout"},
		{"timeout below the floor", &Resilience{Timeout: "9ms"}, caps, "resilience.timeout"},
		{"timeout above the cap", &Resilience{Timeout: "5001ms"}, caps, "resilience.timeout"},
		{"retries above the cap", &Resilience{Retries: n(3)}, caps, "resilience.retries"},
		{"retries negative", &Resilience{Retries: n(-1)}, nil, "resilience.retries"},
		{"retry_on empty", &Resilience{RetryOn: []string{}}, caps, "resilience.retry_on"},
		{"retry_on 500", &Resilience{RetryOn: []string{"500"}}, caps, "resilience.retry_on[0]"},
		{"retry_on too long", &Resilience{RetryOn: []string{"502", "502", "502", "502", "502", "502"}}, caps, "resilience.retry_on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.r.Problems(tc.lim)
			if tc.field == "" && len(bad) > 0 || tc.field != "" && bad[tc.field] == "" {
				t.Fatalf("Problems = %v, want a problem with %q only", bad, tc.field)
			}
		})
	}
}

func TestResilienceNormalize(t *testing.T) {
	in := &Instance{Resilience: &Resilience{RetryOn: []string{"503", "timeout", "503"}}}
	in.Normalize()
	if got := in.Resilience.RetryOn; len(got) != 2 || got[0] != "503" || got[1] != "timeout" {
		t.Fatalf("RetryOn = %v", got)
	}
	in = &Instance{Resilience: &Resilience{}}
	if in.Normalize(); in.Resilience != nil {
		t.Fatalf("an empty resilience is kept: %+v", in.Resilience)
	}
	if d, ok := (&Resilience{Timeout: "250ms"}).TimeoutDuration(); !ok || d != 250*time.Millisecond {
		t.Fatalf("TimeoutDuration = %v, %v", d, ok)
	}
}
