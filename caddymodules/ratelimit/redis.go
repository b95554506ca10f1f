package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// limitScript is gcra for every cell of a request in one round trip, on
// Redis's clock (so the gateways' clocks need not agree), in microseconds.
// KEYS are the buckets; ARGV holds each cell's interval (µs) and burst.
// All or nothing: the request counts in every bucket only if each admits
// it. It returns {admitted (0/1), then per cell: remaining, reset µs,
// retry µs}. TATs are written with %.0f: Lua's default number format keeps
// 14 digits, and a microsecond timestamp has 16.
//
// The last ARGV is the lease wanted: when every bucket has room for k
// requests, the script grants g = clamp(floor(k/8), 1, wanted) of them at
// once (the gateway spends the g-1 others without asking again), so that
// a limit far from binding costs a round trip per lease, while near the
// limit g is 1 and the count is exact. out[1] is g, 0 when refused.
const limitScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local want = tonumber(ARGV[2*n+1])
local out = {1}
local tats, ivs = {}, {}
local room = want * 8
for i = 1, n do
  local iv = tonumber(ARGV[2*i-1])
  local tau = iv * tonumber(ARGV[2*i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or 0)
  if tat < now then tat = now end
  local nxt = tat + iv
  tats[i], ivs[i] = tat, iv
  if nxt - now > tau then
    out[1] = 0
    out[3*i-1] = 0
    out[3*i] = tat - now
    out[3*i+1] = nxt - tau - now
  else
    local k = math.floor((tau - (tat - now)) / iv)
    if k < room then room = k end
    out[3*i-1] = k
    out[3*i] = 0
    out[3*i+1] = 0
  end
end
if out[1] == 1 then
  local g = math.max(1, math.min(want, math.floor(room / 8)))
  out[1] = g
  for i = 1, n do
    local nt = tats[i] + g * ivs[i]
    out[3*i-1] = out[3*i-1] - g
    out[3*i] = nt - now
    redis.call('SET', KEYS[i], string.format('%.0f', nt), 'PX', math.ceil((nt - now) / 1000) + 1)
  end
end
return out
`

// shared is the cluster-wide store: every gateway on the same Redis and
// prefix counts in the same buckets.
type shared struct {
	client *redis.Client
	script *redis.Script
	prefix string
}

// newShared returns a client of the Redis server rawURL names (it
// connects on first use), whose calls give up after timeout: a decision
// waits at most that long before the gateway falls back to its own count.
func newShared(rawURL, prefix string, timeout time.Duration) (*shared, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rate limit: parse the Redis URL: %w", err)
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.MaxRetries = -1 // a retry would be a second round trip
	opts.DialerRetries = 1
	return &shared{client: redis.NewClient(opts), script: redis.NewScript(limitScript), prefix: prefix}, nil
}

// decide runs limitScript for cells (EVALSHA; EVAL once after a restart
// of Redis forgets the script), wanting a lease of up to want requests; it
// returns how many were granted (0: refused).
func (s *shared) decide(ctx context.Context, cells []cell, out []verdict, want int64) (int64, error) {
	var keyBuf [maxCells]string
	var argBuf [2*maxCells + 1]any
	keys, args := keyBuf[:0], argBuf[:0]
	for _, c := range cells {
		keys = append(keys, s.prefix+"rl:"+c.bucket)
		args = append(args, strconv.FormatInt(max(c.interval/1000, 1), 10), strconv.FormatInt(c.burst, 10))
	}
	args = append(args, strconv.FormatInt(max(want, 1), 10))
	res, err := s.script.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("rate limit: Redis: %w", err)
	}
	if len(res) != 1+3*len(cells) {
		return 0, fmt.Errorf("rate limit: Redis answered %d numbers for %d limits", len(res), len(cells))
	}
	for i := range cells {
		out[i] = verdict{
			remaining: res[1+3*i],
			reset:     time.Duration(res[2+3*i]) * time.Microsecond,
			retry:     time.Duration(res[3+3*i]) * time.Microsecond,
		}
	}
	return res[0], nil
}

func (s *shared) close() error { return s.client.Close() }
