package traffic

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layout: one hash per minute, prefix+"traffic:"+<minute since the
// epoch>, whose fields are "<service>|<tenant>|<counter>" (counter: req,
// 4xx, 5xx, b0…b37 for the latency buckets), or
// "<service>|<tenant>|<counter>|<version>" for a request a version served,
// incremented by every gateway with HINCRBY. Service names ([a-z0-9_-])
// and tenant IDs hold no "|"; a version may, so it comes last. (A gateway
// older than versions ignores the versioned fields while a cluster
// upgrades.)
// Each hash expires keyTTL after its last write, just over the hour the API
// can ask for.
const keyTTL = MaxWindow + 5*time.Minute

func minuteKey(prefix string, minute int64) string {
	return prefix + "traffic:" + strconv.FormatInt(minute, 10)
}

func fieldName(f int) string {
	switch f {
	case fRequests:
		return "req"
	case f4xx:
		return "4xx"
	case f5xx:
		return "5xx"
	}
	return "b" + strconv.Itoa(f-fBucket0)
}

// fieldPrefix and fieldSuffix surround a counter's name in k's hash fields.
func fieldPrefix(k key) string { return k.service + "|" + k.tenant + "|" }

func fieldSuffix(k key) string {
	if k.version == "" {
		return ""
	}
	return "|" + k.version
}

// parseField splits a hash field into its key and counter index.
func parseField(s string) (k key, f int, ok bool) {
	svc, rest, ok1 := strings.Cut(s, "|")
	tenant, rest, ok2 := strings.Cut(rest, "|")
	if !ok1 || !ok2 {
		return key{}, 0, false
	}
	name, version, versioned := strings.Cut(rest, "|")
	if versioned && version == "" {
		return key{}, 0, false
	}
	switch name {
	case "req":
		f = fRequests
	case "4xx":
		f = f4xx
	case "5xx":
		f = f5xx
	default:
		b, err := strconv.Atoi(strings.TrimPrefix(name, "b"))
		if !strings.HasPrefix(name, "b") || err != nil || b < 0 || b >= numBuckets {
			return key{}, 0, false
		}
		f = fBucket0 + b
	}
	return key{svc, tenant, version}, f, true
}

// shared is the figures of every gateway that uses the same Redis and prefix.
type shared struct {
	client *redis.Client
	prefix string
}

// newShared returns a client of the Redis server rawURL names (it connects
// on first use). Its timeouts are short: a gateway whose Redis is down
// answers with its own figures rather than wait.
func newShared(rawURL, prefix string) (*shared, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("traffic: parse the Redis URL: %w", err)
	}
	opts.DialTimeout = time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	return &shared{client: redis.NewClient(opts), prefix: prefix}, nil
}

// write adds deltas to the minute hashes in one transaction (one round trip).
func (s *shared) write(ctx context.Context, deltas []delta) error {
	if len(deltas) == 0 {
		return nil
	}
	touched := map[int64]bool{}
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range deltas {
			k := minuteKey(s.prefix, d.minute)
			touched[d.minute] = true
			pre, suf := fieldPrefix(d.key), fieldSuffix(d.key)
			for f, n := range d.n {
				if n != 0 {
					p.HIncrBy(ctx, k, pre+fieldName(f)+suf, int64(n))
				}
			}
		}
		for m := range touched {
			p.Expire(ctx, minuteKey(s.prefix, m), keyTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("traffic: write to Redis: %w", err)
	}
	return nil
}

// read sums every gateway's figures of minutes from..to that f admits.
func (s *shared) read(ctx context.Context, from, to int64, f Filter) (Dataset, error) {
	cmds := make([]*redis.MapStringStringCmd, 0, to-from+1)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for m := from; m <= to; m++ {
			cmds = append(cmds, p.HGetAll(ctx, minuteKey(s.prefix, m)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("traffic: read from Redis: %w", err)
	}
	d := Dataset{}
	for i, cmd := range cmds {
		minute := from + int64(i)
		perKey := map[key]*counts{}
		for field, val := range cmd.Val() {
			k, idx, ok := parseField(field)
			if !ok || !f.admits(k.service, k.tenant) {
				continue
			}
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				continue
			}
			c := perKey[k]
			if c == nil {
				c = new(counts)
				perKey[k] = c
			}
			c[idx] += n
		}
		for k, c := range perKey {
			if c[fRequests] > 0 {
				d.add(k, minute, c)
			}
		}
	}
	return d, nil
}

func (s *shared) close() error { return s.client.Close() }
