package ephemeral

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store on a Redis server, shared by every replica that uses the
// same server and prefix.
type Redis struct {
	client *redis.Client
	prefix string
}

var (
	incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)
	claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// OpenRedis connects to the Redis server rawURL names and checks it answers.
func OpenRedis(ctx context.Context, rawURL, prefix string) (*Redis, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open redis: parse PLUGBOARD_REDIS_URL: %w", err)
	}
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("open redis %s: %w", opts.Addr, err)
	}
	return &Redis{client: client, prefix: prefix}, nil
}

func (r *Redis) key(k string) string { return r.prefix + k }

// Get implements KV.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := r.client.Get(ctx, r.key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis get: %w", err)
	}
	return v, nil
}

// GetMany implements KV.
func (r *Redis) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.key(k)
	}
	vals, err := r.client.MGet(ctx, full...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis mget: %w", err)
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}

// Set implements KV.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.client.Set(ctx, r.key(key), value, max(ttl, 0)).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// SetMany implements KV with one pipeline.
func (r *Redis) SetMany(ctx context.Context, values map[string][]byte, ttl time.Duration) error {
	if len(values) == 0 {
		return nil
	}
	pipe := r.client.Pipeline()
	for k, v := range values {
		pipe.Set(ctx, r.key(k), v, max(ttl, 0))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis set many: %w", err)
	}
	return nil
}

// SetNX implements KV.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	args := redis.SetArgs{Mode: "NX"}
	if ttl > 0 {
		args.TTL = ttl
	}
	err := r.client.SetArgs(ctx, r.key(key), value, args).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis set nx: %w", err)
	}
	return true, nil
}

// Delete implements KV.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.key(key)).Err(); err != nil {
		return fmt.Errorf("redis del: %w", err)
	}
	return nil
}

// Incr implements Counter.
func (r *Redis) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := incrScript.Run(ctx, r.client, []string{r.key(key)}, window.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis incr: %w", err)
	}
	return n, nil
}

// Claim implements Locker.
func (r *Redis) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	n, err := claimScript.Run(ctx, r.client, []string{r.key(key)}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("redis claim: %w", err)
	}
	return n == 1, nil
}

// Release implements Locker.
func (r *Redis) Release(ctx context.Context, key, owner string) error {
	if err := releaseScript.Run(ctx, r.client, []string{r.key(key)}, owner).Err(); err != nil {
		return fmt.Errorf("redis release: %w", err)
	}
	return nil
}

// Publish implements PubSub.
func (r *Redis) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := r.client.Publish(ctx, r.key(channel), payload).Err(); err != nil {
		return fmt.Errorf("redis publish: %w", err)
	}
	return nil
}

// Subscribe implements PubSub. It returns once Redis confirms the
// subscription.
func (r *Redis) Subscribe(ctx context.Context, channel string) (Subscription, error) {
	ps := r.client.Subscribe(ctx, r.key(channel))
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("redis subscribe: %w", err)
	}
	s := &redisSub{ps: ps, ch: make(chan []byte, subscriberBuffer), done: make(chan struct{})}
	go s.pump()
	return s, nil
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.client.Close() }

type redisSub struct {
	ps   *redis.PubSub
	ch   chan []byte
	done chan struct{}
	once sync.Once
}

func (s *redisSub) pump() {
	defer close(s.ch)
	in := s.ps.Channel(redis.WithChannelSize(subscriberBuffer))
	for {
		select {
		case <-s.done:
			return
		case msg, ok := <-in:
			if !ok {
				return
			}
			select {
			case s.ch <- []byte(msg.Payload):
			default: // a full buffer drops, as Memory does
			}
		}
	}
}

func (s *redisSub) Messages() <-chan []byte { return s.ch }

func (s *redisSub) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ps.Close()
	})
	return err
}

var _ Store = (*Redis)(nil)
