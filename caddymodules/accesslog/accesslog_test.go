package accesslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/logging" // the file writer
	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/internal/testenv"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// memWriter is an io.WriteCloser that keeps what it gets, each Write apart.
type memWriter struct {
	mu     sync.Mutex
	writes [][]byte
	closed bool
	fail   error
}

func (m *memWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	m.writes = append(m.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (m *memWriter) Close() error { m.mu.Lock(); m.closed = true; m.mu.Unlock(); return nil }

func (m *memWriter) all() (string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return string(bytes.Join(m.writes, nil)), len(m.writes)
}

// serve runs one request through a Handler writing unbuffered to a
// memWriter, with next as the rest of the route, and returns the line.
func serve(t *testing.T, r *http.Request, next caddyhttp.HandlerFunc) (map[string]any, error) {
	t.Helper()
	mw := &memWriter{}
	h := &Handler{sink: newSink(mw, 0, 0, zap.NewNop())}
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, nil)
	err := h.ServeHTTP(w, r, next)
	out, n := mw.all()
	if n != 1 || !strings.HasSuffix(out, "}\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("want one line, got %d writes: %q", n, out)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(out), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, out)
	}
	return line, err
}

func TestServeHTTP(t *testing.T) {
	upstreamErr := errors.New("dial tcp 10.0.0.7:9000: connection refused")
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		next   caddyhttp.HandlerFunc
		want   map[string]any
		absent []string
		err    bool
	}{
		{
			name: "proxied request",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/api/orders/items?q=1", strings.NewReader("hello"))
				r.Host = "gw.example"
				r.Header.Set("X-Request-Id", "rid-1")
				r.Header.Set("User-Agent", "curl/8")
				r.Header.Set("Authorization", "Bearer secret-token")
				r.RemoteAddr = "192.0.2.1:5555"
				return r
			},
			next: func(w http.ResponseWriter, r *http.Request) error {
				io.Copy(io.Discard, r.Body)
				ctx := r.Context()
				caddyhttp.SetVar(ctx, gatewayctx.VarService, "orders")
				caddyhttp.SetVar(ctx, gatewayctx.VarUserID, "u1")
				caddyhttp.SetVar(ctx, gatewayctx.VarTenantID, "t1")
				repl := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
				repl.Set("http.reverse_proxy.upstream.hostport", "10.0.0.7:9000")
				repl.Set("http.reverse_proxy.upstream.latency", 1500*time.Microsecond)
				repl.Set("http.reverse_proxy.retries", 1)
				w.WriteHeader(201)
				w.Write([]byte("created!"))
				return nil
			},
			want: map[string]any{
				"level": "info", "logger": "http.log.access", "msg": "handled request",
				"request_id": "rid-1", "remote_ip": "192.0.2.1", "proto": "HTTP/1.1", "method": "POST",
				"host": "gw.example", "uri": "/api/orders/items?q=1", "user_agent": "curl/8",
				"status": 201.0, "size": 8.0, "bytes_read": 5.0, "service": "orders", "upstream": "10.0.0.7:9000",
				"upstream_ms": 1.5, "retries": 1.0, "user_id": "u1", "tenant_id": "t1",
			},
			absent: []string{"error", "client_ip"},
		},
		{
			name: "nothing written is a 200",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/", nil) },
			next: func(w http.ResponseWriter, r *http.Request) error { return nil },
			want: map[string]any{"status": 200.0, "size": 0.0, "bytes_read": 0.0, "uri": "/"},
			absent: []string{"service", "upstream", "upstream_ms", "retries", "user_id", "tenant_id", "request_id",
				"user_agent", "error"},
		},
		{
			name: "handler error takes its status and level",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/api/orders/x", nil) },
			next: func(w http.ResponseWriter, r *http.Request) error {
				return caddyhttp.Error(http.StatusBadGateway, upstreamErr)
			},
			want: map[string]any{"status": 502.0, "level": "error"},
			err:  true,
		},
		{
			name: "a 4xx error is info",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/api/nosuch/x", nil) },
			next: func(w http.ResponseWriter, r *http.Request) error {
				return caddyhttp.Error(http.StatusNotFound, errors.New("no such service"))
			},
			want: map[string]any{"status": 404.0, "level": "info"},
			err:  true,
		},
		{
			name: "an error after the response started keeps what was sent",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/stream", nil) },
			next: func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(200)
				w.Write([]byte("partial"))
				return caddyhttp.Error(http.StatusBadGateway, errors.New("upstream broke mid-body"))
			},
			want: map[string]any{"status": 200.0, "size": 7.0, "level": "info"},
			err:  true,
		},
		{
			name: "plain error is a 500",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/", nil) },
			next: func(w http.ResponseWriter, r *http.Request) error { return upstreamErr },
			want: map[string]any{"status": 500.0, "level": "error", "error": upstreamErr.Error()},
			err:  true,
		},
		{
			name: "hostile strings stay one JSON line",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "/x", nil)
				r.Header.Set("User-Agent", "evil\"}\n{\"status\":200 \xff\u2028")
				return r
			},
			next: func(w http.ResponseWriter, r *http.Request) error { return nil },
			want: map[string]any{"user_agent": "evil\"}\n{\"status\":200 \ufffd\u2028"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, err := serve(t, tc.req(), tc.next)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want one: %v", err, tc.err)
			}
			for k, v := range tc.want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := line[k]; ok {
					t.Errorf("%s present: %v", k, line[k])
				}
			}
			if _, ok := line["duration_ms"].(float64); !ok {
				t.Errorf("duration_ms missing: %v", line)
			}
			ts, _ := line["ts"].(string)
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
				t.Errorf("ts %q: %v", ts, err)
			}
			for k, v := range line {
				if s, ok := v.(string); ok && strings.Contains(s, "secret-token") {
					t.Errorf("%s carries the credential: %q", k, s)
				}
			}
		})
	}
}

func TestErrorCarriesCaddyErrorID(t *testing.T) {
	line, _ := serve(t, httptest.NewRequest("GET", "/", nil), func(w http.ResponseWriter, r *http.Request) error {
		return caddyhttp.Error(http.StatusBadGateway, errors.New("boom"))
	})
	if msg, _ := line["error"].(string); !strings.HasPrefix(msg, "boom (error id ") {
		t.Fatalf("error %q", msg)
	}
}

func TestClientIPWhenItDiffers(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1234"
	line, _ := serve(t, r, func(w http.ResponseWriter, r *http.Request) error {
		caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "203.0.113.9")
		return nil
	})
	if line["remote_ip"] != "10.0.0.1" || line["client_ip"] != "203.0.113.9" {
		t.Fatalf("remote_ip %v, client_ip %v", line["remote_ip"], line["client_ip"])
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "\x00\x01\x1f\x7f", "tab\tnl\ncr\r", "é漢字🙂", "\xff\xfe", "a\u2028b\u2029c", "<>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, got, err)
		}
		if back != viaEncodingJSON(s) {
			t.Fatalf("%q → %s → %q", s, got, back)
		}
		if bytes.ContainsAny(got, "\n\r\u2028\u2029") {
			t.Fatalf("%q → %s holds a line break", s, got)
		}
	}
}

// viaEncodingJSON is s after a round trip through encoding/json, which
// also turns each invalid byte into U+FFFD.
func viaEncodingJSON(s string) string {
	b, _ := json.Marshal(s)
	var back string
	json.Unmarshal(b, &back)
	return back
}

func TestAppendTimestamp(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2026, 11, 26, 22, 7, 55, 225026999, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 5*3600)),
		time.Date(2030, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
	} {
		want := ts.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
		if got := string(appendTimestamp(nil, ts)); got != want {
			t.Errorf("%v: %s, want %s", ts, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		if !json.Valid(got) || !utf8.Valid(got) {
			t.Fatalf("%q → invalid JSON %q", s, got)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != viaEncodingJSON(s) {
			t.Fatalf("%q → %q → %q (%v)", s, got, back, err)
		}
		if bytes.ContainsAny(got, "\n\r") {
			t.Fatalf("%q → %q holds a line break", s, got)
		}
	})
}

func TestSink(t *testing.T) {
	t.Run("batches until the interval", func(t *testing.T) {
		mw := &memWriter{}
		s := newSink(mw, 300*time.Millisecond, 1024, zap.NewNop())
		defer s.Destruct()
		for range 10 {
			s.write([]byte("line\n"))
		}
		if _, n := mw.all(); n != 0 {
			t.Fatalf("%d writes before the interval", n)
		}
		testenv.Eventually(t, 2*time.Second, func() bool { _, n := mw.all(); return n > 0 }, "never flushed")
		if out, n := mw.all(); n != 1 || out != strings.Repeat("line\n", 10) {
			t.Fatalf("%d writes: %q", n, out)
		}
	})
	t.Run("a full buffer is written at once", func(t *testing.T) {
		mw := &memWriter{}
		s := newSink(mw, time.Hour, 10, zap.NewNop())
		s.write([]byte("12345\n"))
		s.write([]byte("67890\n")) // does not fit: the first goes out
		if out, n := mw.all(); n != 1 || out != "12345\n" {
			t.Fatalf("%d writes: %q", n, out)
		}
		s.write([]byte("a line longer than the buffer\n")) // flushes, then goes straight out
		if out, n := mw.all(); n != 3 || out != "12345\n67890\na line longer than the buffer\n" {
			t.Fatalf("%d writes: %q", n, out)
		}
		s.write([]byte("tail\n"))
		if err := s.Destruct(); err != nil {
			t.Fatal(err)
		}
		if out, _ := mw.all(); !strings.HasSuffix(out, "buffer\ntail\n") || !mw.closed {
			t.Fatalf("destruct did not flush and close: %q closed=%v", out, mw.closed)
		}
	})
	t.Run("unbuffered writes each line", func(t *testing.T) {
		mw := &memWriter{}
		s := newSink(mw, 0, 0, zap.NewNop())
		s.write([]byte("a\n"))
		s.write([]byte("b\n"))
		if out, n := mw.all(); n != 2 || out != "a\nb\n" {
			t.Fatalf("%d writes: %q", n, out)
		}
		s.Destruct()
	})
	t.Run("a failing writer is reported once", func(t *testing.T) {
		mw := &memWriter{fail: errors.New("disk full")}
		var logs bytes.Buffer
		logger := zap.New(zapcoreFor(&logs))
		s := newSink(mw, 0, 0, logger)
		s.write([]byte("a\n"))
		s.write([]byte("b\n"))
		mw.mu.Lock()
		mw.fail = nil
		mw.mu.Unlock()
		s.write([]byte("c\n"))
		if got := strings.Count(logs.String(), "access log lines dropped"); got != 1 {
			t.Fatalf("reported %d times: %s", got, logs.String())
		}
		if !strings.Contains(logs.String(), "works again") {
			t.Fatalf("recovery not reported: %s", logs.String())
		}
		if out, _ := mw.all(); out != "c\n" {
			t.Fatalf("wrote %q", out)
		}
	})
	t.Run("concurrent writers never interleave lines", func(t *testing.T) {
		mw := &memWriter{}
		s := newSink(mw, time.Millisecond, 256, zap.NewNop())
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				line := []byte(strings.Repeat(string(rune('a'+g)), 20) + "\n")
				for range 200 {
					s.write(line)
				}
			}()
		}
		wg.Wait()
		s.Destruct()
		out, _ := mw.all()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 1600 {
			t.Fatalf("%d lines", len(lines))
		}
		for _, l := range lines {
			if len(l) != 20 || strings.Count(l, l[:1]) != 20 {
				t.Fatalf("torn line %q", l)
			}
		}
	})
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		check   func(*Handler) bool
	}{
		{in: `plugboard_access_log`, check: func(h *Handler) bool { return h.WriterRaw == nil && h.FlushInterval == nil && h.BufferSize == 0 }},
		{in: "plugboard_access_log {\n output stdout\n flush_interval 250ms\n buffer_size 8KiB\n}", check: func(h *Handler) bool {
			return string(h.WriterRaw) == `{"output":"stdout"}` && *h.FlushInterval == caddy.Duration(250*time.Millisecond) && h.BufferSize == 8192
		}},
		{in: "plugboard_access_log {\n output file /var/log/pb.log {\n roll_size 10MiB\n }\n flush_interval 0\n}", check: func(h *Handler) bool {
			var w map[string]any
			json.Unmarshal(h.WriterRaw, &w)
			return w["output"] == "file" && w["filename"] == "/var/log/pb.log" && *h.FlushInterval == 0
		}},
		{in: `plugboard_access_log extra`, err: "wrong argument count"},
		{in: "plugboard_access_log {\n colour red\n}", err: `unknown option "colour"`},
		{in: "plugboard_access_log {\n flush_interval soon\n}", err: "flush_interval"},
		{in: "plugboard_access_log {\n flush_interval -1s\n}", err: "flush_interval"},
		{in: "plugboard_access_log {\n buffer_size 0\n}", err: "buffer_size"},
		{in: "plugboard_access_log {\n buffer_size 1GiB\n}", err: "buffer_size"},
		{in: "plugboard_access_log {\n output stdout\n output stderr\n}", err: "output given twice"},
		{in: "plugboard_access_log {\n output nosuchwriter\n}", err: "nosuchwriter"},
		{in: "plugboard_access_log {\n output\n}", err: "wrong argument count"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(&h) {
				t.Fatalf("parsed %+v (writer %s)", h, h.WriterRaw)
			}
		})
	}
}

// BenchmarkServeHTTP is the handler's own cost per request, writing into
// the buffer (discarded when flushed), beside a route with no handler.
func BenchmarkServeHTTP(b *testing.B) {
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		caddyhttp.SetVar(r.Context(), gatewayctx.VarService, "v1")
		w.WriteHeader(200)
		return nil
	})
	run := func(b *testing.B, serve func(http.ResponseWriter, *http.Request) error) {
		r := httptest.NewRequest("GET", "/api/v1/users/42", nil)
		r.Header.Set("X-Request-Id", "0123456789abcdef0123456789abcdef")
		r.Header.Set("User-Agent", "wrk")
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		b.ReportAllocs()
		for b.Loop() {
			serve(w, r)
		}
	}
	b.Run("none", func(b *testing.B) { run(b, next.ServeHTTP) })
	b.Run("access_log", func(b *testing.B) {
		h := &Handler{sink: newSink(nopCloser{io.Discard}, time.Second, DefaultBufferSize, zap.NewNop())}
		defer h.sink.Destruct()
		run(b, func(w http.ResponseWriter, r *http.Request) error { return h.ServeHTTP(w, r, next) })
	})
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func zapcoreFor(w io.Writer) zapcore.Core {
	return zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(w), zap.DebugLevel)
}
