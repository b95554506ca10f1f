package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RateLimit is an endpoint's rate_limit, the one shape the registry, the
// gateway (plugboard_rate_limit), core's quotas and the SDKs share:
//
//	{"requests": 100, "per": "1m", "burst": 20, "key": "tenant"}
//
// At most Requests requests per Per for each Key, of which up to Burst at
// once (a generic cell rate algorithm: one request every Per/Requests, with
// Burst requests of credit). Burst defaults to Requests: a client may spend
// a whole period's allowance at once.
type RateLimit struct {
	Requests int64        `json:"requests"`
	Per      string       `json:"per"` // a duration: "1s", "1m", "1h", "24h" …
	Burst    int64        `json:"burst,omitempty"`
	Key      RateLimitKey `json:"key,omitempty"`

	period   time.Duration     // Per, parsed by UnmarshalJSON or Problems
	problems map[string]string // what UnmarshalJSON could not read, by sub-field
}

// RateLimitKey is what a rate limit counts by: each value of the key gets
// its own allowance.
type RateLimitKey string

// The keys. A request that lacks its limit's key (no caller on a public
// endpoint, no API key) is counted by the next one it has: api_key → user
// → client_ip, tenant → client_ip. Every key comes from what the gateway
// verified (jwt_auth's identity, the client address under the trusted
// proxies' rules), never from a header the client chose.
const (
	KeyUser     RateLimitKey = "user"      // the caller (the default)
	KeyTenant   RateLimitKey = "tenant"    // every caller of a tenant together
	KeyAPIKey   RateLimitKey = "api_key"   // each API key
	KeyClientIP RateLimitKey = "client_ip" // the client's address
	KeyService  RateLimitKey = "service"   // every caller together (the endpoint's total)
)

// RateLimitKeys are the valid keys, in documentation order.
var RateLimitKeys = []RateLimitKey{KeyUser, KeyTenant, KeyAPIKey, KeyClientIP, KeyService}

// Bounds of a rate limit.
const (
	MinRateLimitPeriod = time.Second
	MaxRateLimitPeriod = 24 * time.Hour
	MaxRateLimitCount  = 1_000_000_000
)

// Period returns Per as a duration (0 when it does not parse).
func (l *RateLimit) Period() time.Duration {
	if l.period == 0 && l.Per != "" {
		l.period, _ = time.ParseDuration(l.Per)
	}
	return l.period
}

// BurstSize returns the burst: Burst, or Requests when unset.
func (l *RateLimit) BurstSize() int64 {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Requests
}

// KeyOrDefault returns Key, or KeyUser when unset.
func (l *RateLimit) KeyOrDefault() RateLimitKey {
	if l.Key == "" {
		return KeyUser
	}
	return l.Key
}

// Interval returns the time one request uses up (Per/Requests), at least
// a nanosecond; 0 for an invalid limit.
func (l *RateLimit) Interval() time.Duration {
	p := l.Period()
	if p <= 0 || l.Requests <= 0 {
		return 0
	}
	return max(p/time.Duration(l.Requests), 1)
}

// Stricter reports whether l admits fewer requests over time than o (a
// lower rate; at equal rates, a smaller burst). A nil o is no limit.
func (l *RateLimit) Stricter(o *RateLimit) bool {
	if o == nil {
		return true
	}
	a, b := l.Interval(), o.Interval()
	if a != b {
		return a > b
	}
	return l.BurstSize() < o.BurstSize()
}

// UnmarshalJSON reads a rate limit without failing on a wrong value: what
// it cannot read, Problems reports with the sub-field's name, so that a
// registration learns every bad field at once.
func (l *RateLimit) UnmarshalJSON(b []byte) error {
	*l = RateLimit{}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		l.problems = map[string]string{"": "must be an object such as {\"requests\": 100, \"per\": \"1m\"}"}
		return nil
	}
	bad := map[string]string{}
	for k, v := range raw {
		var err error
		switch k {
		case "requests":
			err = strictInt(v, &l.Requests)
		case "burst":
			err = strictInt(v, &l.Burst)
		case "per":
			err = json.Unmarshal(v, &l.Per)
		case "key":
			err = json.Unmarshal(v, &l.Key)
		default:
			bad[k] = "is not a rate_limit field (requests, per, burst, key)"
			continue
		}
		if err != nil {
			if k == "per" || k == "key" {
				bad[k] = "must be a string"
			} else {
				bad[k] = "must be a whole number"
			}
		}
	}
	if len(bad) > 0 {
		l.problems = bad
	}
	return nil
}

func strictInt(v json.RawMessage, dst *int64) error {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var n json.Number
	if err := d.Decode(&n); err != nil {
		return err
	}
	i, err := n.Int64()
	if err != nil {
		return err
	}
	*dst = i
	return nil
}

// Problems returns what is wrong with l (sub-field → message; "" for the
// whole value), empty when it is valid.
func (l *RateLimit) Problems() map[string]string {
	bad := map[string]string{}
	for k, v := range l.problems {
		bad[k] = v
	}
	if _, ok := bad[""]; ok {
		return bad
	}
	if _, ok := bad["requests"]; !ok && (l.Requests < 1 || l.Requests > MaxRateLimitCount) {
		bad["requests"] = fmt.Sprintf("must be between 1 and %d", MaxRateLimitCount)
	}
	if _, ok := bad["burst"]; !ok && (l.Burst < 0 || l.Burst > MaxRateLimitCount) {
		bad["burst"] = fmt.Sprintf("must be between 1 and %d (0 or absent: requests)", MaxRateLimitCount)
	}
	if _, ok := bad["per"]; !ok {
		p, err := time.ParseDuration(l.Per)
		switch {
		case l.Per == "":
			bad["per"] = "is required: a duration such as \"1s\", \"1m\" or \"1h\""
		case err != nil:
			bad["per"] = fmt.Sprintf("%q is not a duration such as \"1s\", \"1m\" or \"1h\"", l.Per)
		case p < MinRateLimitPeriod || p > MaxRateLimitPeriod:
			bad["per"] = "must be between 1s and 24h"
		default:
			l.period = p
		}
	}
	if _, ok := bad["key"]; !ok && l.Key != "" && !validKey(l.Key) {
		names := make([]string, len(RateLimitKeys))
		for i, k := range RateLimitKeys {
			names[i] = string(k)
		}
		bad["key"] = fmt.Sprintf("%q is not one of %s", l.Key, strings.Join(names, ", "))
	}
	return bad
}

// FieldProblems is Problems with each sub-field under field (e.g.
// "endpoints[0].rate_limit"), as a registration's problems are named.
func (l *RateLimit) FieldProblems(field string) map[string]string {
	out := map[string]string{}
	for k, v := range l.Problems() {
		if k == "" {
			out[field] = v
		} else {
			out[field+"."+k] = v
		}
	}
	return out
}

func validKey(k RateLimitKey) bool { return slices.Contains(RateLimitKeys, k) }
