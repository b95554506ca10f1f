package registry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Resilience is what a service asks of the gateway when an instance is
// slow or fails (issue 16): how long to wait for its response headers and
// how often to try another instance. Every field is optional; an absent
// one takes the gateway's default. Like endpoints, the newest instance's
// resilience applies to the whole service.
type Resilience struct {
	// Timeout is how long the gateway waits for an instance's response
	// headers once it has sent the request, as a Go duration ("500ms",
	// "2s"); past it the attempt fails with 504 (or is retried, with
	// "timeout" in RetryOn).
	Timeout string `json:"timeout,omitempty"`
	// Retries is how many more instances an idempotent request (GET, HEAD,
	// OPTIONS; PUT and DELETE too after a broken connection or a timeout)
	// may be sent to after the first one failed in a way RetryOn names.
	// A connection that could not be made is not a retry: nothing was
	// sent, and the gateway always moves on.
	Retries *int `json:"retries,omitempty"`
	// RetryOn names the failures that are retried: RetryOn* values.
	// Absent: DefaultRetryOn. An empty list is refused: Retries 0 retries
	// nothing.
	RetryOn []string `json:"retry_on,omitempty"`
}

// RetryOn values: an instance's answer with that status, a connection
// broken after the request was sent, or no response headers within the
// timeout.
const (
	RetryOn502            = "502"
	RetryOn503            = "503"
	RetryOn504            = "504"
	RetryOnTransportError = "transport_error"
	RetryOnTimeout        = "timeout"
)

// RetryOnValues are the accepted RetryOn values.
var RetryOnValues = []string{RetryOn502, RetryOn503, RetryOn504, RetryOnTransportError, RetryOnTimeout}

// DefaultRetryOn is RetryOn when a service does not say: a timeout is not
// retried unless asked for, since a retry multiplies the wait.
var DefaultRetryOn = []string{RetryOn502, RetryOn503, RetryOn504, RetryOnTransportError}

// The platform's caps when its configuration does not set them
// (PLUGBOARD_REGISTRY_MAX_TIMEOUT and _MAX_RETRIES, read by the registry
// and by the shipped Caddyfile), and the least timeout a service may ask.
const (
	DefaultMaxTimeout = 60 * time.Second
	DefaultMaxRetries = 3
	MinTimeout        = 10 * time.Millisecond
)

// ResilienceLimits are the platform's caps on what a service may ask.
type ResilienceLimits struct {
	MaxTimeout time.Duration
	MaxRetries int
}

// DefaultResilienceLimits are the caps of an unconfigured platform.
var DefaultResilienceLimits = ResilienceLimits{MaxTimeout: DefaultMaxTimeout, MaxRetries: DefaultMaxRetries}

// TimeoutDuration is Timeout parsed; ok is false when it is absent or
// not a positive duration.
func (r *Resilience) TimeoutDuration() (d time.Duration, ok bool) {
	if r == nil || r.Timeout == "" {
		return 0, false
	}
	d, err := time.ParseDuration(r.Timeout)
	return d, err == nil && d > 0
}

// Problems checks r against its rules and lim's caps (nil: the rules
// only) and returns what is wrong, by field name under "resilience." (a
// nil r is valid: the defaults).
func (r *Resilience) Problems(lim *ResilienceLimits) map[string]string {
	bad := map[string]string{}
	if r == nil {
		return bad
	}
	if r.Timeout != "" {
		d, err := time.ParseDuration(r.Timeout)
		switch {
		case err != nil:
			bad["resilience.timeout"] = "must be a duration such as 500ms or 2s"
		case d < MinTimeout:
			bad["resilience.timeout"] = fmt.Sprintf("must be at least %s", MinTimeout)
		case lim != nil && d > lim.MaxTimeout:
			bad["resilience.timeout"] = fmt.Sprintf("must be at most %s, the platform's cap (max_timeout)", lim.MaxTimeout)
		}
	}
	if r.Retries != nil {
		switch n := *r.Retries; {
		case n < 0:
			bad["resilience.retries"] = "must be 0 or more"
		case lim != nil && n > lim.MaxRetries:
			bad["resilience.retries"] = fmt.Sprintf("must be at most %d, the platform's cap (max_retries)", lim.MaxRetries)
		}
	}
	if r.RetryOn != nil && len(r.RetryOn) == 0 {
		bad["resilience.retry_on"] = "must name at least one failure (retries 0 retries nothing)"
	}
	if len(r.RetryOn) > len(RetryOnValues) {
		bad["resilience.retry_on"] = fmt.Sprintf("must hold at most %d values", len(RetryOnValues))
	}
	for i, v := range r.RetryOn {
		if !slices.Contains(RetryOnValues, v) {
			bad["resilience.retry_on["+strconv.Itoa(i)+"]"] = fmt.Sprintf("%q is not one of %s", v, strings.Join(RetryOnValues, ", "))
		}
	}
	return bad
}

// Normalize drops RetryOn's repeats (in place).
func (r *Resilience) Normalize() {
	if r != nil {
		r.RetryOn = dedupe(r.RetryOn, func(s string) string { return s })
	}
}
