// Package testenv gives tests isolated access to the real servers Plugboard
// runs on: a fresh PostgreSQL schema or Redis key prefix per test.
//
// The servers come from PLUGBOARD_TEST_DATABASE_URL and
// PLUGBOARD_TEST_REDIS_URL. When a variable is unset or its server is
// unreachable the test is skipped, except under CI=true, where it fails: CI
// must never pass by skipping.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Variables naming the test servers.
const (
	DatabaseURLVar = "PLUGBOARD_TEST_DATABASE_URL"
	RedisURLVar    = "PLUGBOARD_TEST_REDIS_URL"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and "+format, args...)
	}
	t.Skipf(format, args...)
}

// UniqueName returns prefix followed by random hex, safe as an SQL identifier.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// PostgresURL creates a schema of its own for this test in the database
// PLUGBOARD_TEST_DATABASE_URL names and returns a URL whose connections use
// it (search_path). The schema is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(DatabaseURLVar)
	if base == "" {
		unavailable(t, "%s is not set", DatabaseURLVar)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, "PostgreSQL at %s is unreachable: %v", DatabaseURLVar, err)
	}
	defer conn.Close(ctx)
	schema := UniqueName("t_")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := neturl.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", DatabaseURLVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// RedisURL returns PLUGBOARD_TEST_REDIS_URL after checking the server answers,
// and a key prefix unique to this test. Keys under the prefix are deleted
// when the test ends.
func RedisURL(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	redisURL = os.Getenv(RedisURLVar)
	if redisURL == "" {
		unavailable(t, "%s is not set", RedisURLVar)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("parse %s: %v", RedisURLVar, err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		unavailable(t, "Redis at %s is unreachable: %v", RedisURLVar, err)
	}
	prefix = UniqueName("test:") + ":"
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, strings.ReplaceAll(prefix, "*", `\*`)+"*", 500).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
	return redisURL, prefix
}

// SameJSON fails the test unless got and want hold the same JSON value,
// numbers compared by their exact decimal text (key order and whitespace
// do not matter).
func SameJSON(t testing.TB, what string, got, want []byte) {
	t.Helper()
	decode := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%s: %s: %v", what, b, err)
		}
		return v
	}
	if g, w := decode(got), decode(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// Response is an HTTP answer a test read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Read reads resp in full and closes its body.
func Read(t testing.TB, resp *http.Response) Response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return Response{resp.StatusCode, resp.Header, b}
}

// Decode decodes the body as JSON into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem is an RFC 9457 problem body as the services write it.
type Problem struct {
	Type   string            `json:"type"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Errors map[string]string `json:"errors"`
}

// Problem decodes a problem+json answer, failing the test if it is not one
// or its status disagrees with the HTTP status.
func (r Response) Problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d, content type %q, body %s; want problem+json", r.Status, ct, r.Body)
	}
	var p Problem
	r.Decode(t, &p)
	if p.Status != r.Status {
		t.Fatalf("problem status %d != HTTP status %d", p.Status, r.Status)
	}
	return p
}

// RequestTimeout bounds every request Do and Send (with no client of
// their own) send, so that a stream answered where an error was expected
// fails the test instead of hanging it.
const RequestTimeout = 10 * time.Second

// NewRequest makes a request to url. body is nil (no body), a string or
// []byte (sent as is), url.Values (sent as a form) or any other value (sent
// as JSON); a body is labelled application/json unless it is a form.
// header holds name, value pairs: the first value of a name replaces any
// default (Content-Type), further ones are added (a name given twice is
// sent twice).
func NewRequest(t testing.TB, method, url string, body any, header ...string) *http.Request {
	t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case neturl.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode the body of %s %s: %v", method, url, err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	given := map[string]bool{}
	for i := 0; i+1 < len(header); i += 2 {
		name := http.CanonicalHeaderKey(header[i])
		if !given[name] {
			given[name] = true
			req.Header.Del(name)
		}
		req.Header[name] = append(req.Header[name], header[i+1])
	}
	return req
}

// Send sends req with client (nil: a client with RequestTimeout) and reads
// the answer in full.
func Send(t testing.TB, client *http.Client, req *http.Request) Response {
	t.Helper()
	if client == nil {
		client = &http.Client{Timeout: RequestTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return Read(t, resp)
}

// Do sends the request NewRequest makes of its arguments and reads the
// answer in full.
func Do(t testing.TB, method, url string, body any, header ...string) Response {
	t.Helper()
	return Send(t, nil, NewRequest(t, method, url, body, header...))
}
