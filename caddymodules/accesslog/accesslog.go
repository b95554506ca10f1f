// Package accesslog is the plugboard_access_log Caddy handler: one JSON line
// per request — who asked, what for, which service and instance answered,
// how and how fast — written through a buffer to any of Caddy's log writers
// (stderr, stdout, file with rolling, net, discard).
//
// It replaces Caddy's `log` directive in the shipped Caddyfile. Caddy's
// access logger encodes every request and response header through zap on
// each request and writes each line with its own system call; that costs
// the gateway 7–18 % of its throughput (bench/README.md). This handler
// writes a fixed set of fields with no headers (so no credentials), adds
// what a gateway log needs and Caddy's lacks (service, upstream instance,
// upstream time, retries, user and tenant), and batches lines: they reach
// the writer when the buffer fills or every flush_interval (1 s), as
// nginx's `access_log … buffer= flush=` and Envoy's file flush interval do.
// A crash loses at most that interval of lines; a stop or reload flushes.
package accesslog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the options.
const (
	DefaultFlushInterval = caddy.Duration(time.Second)
	DefaultBufferSize    = 64 << 10
)

// Handler writes one JSON access-log line per request it sees. Place it
// first in the route (the Caddyfile directive order does), so that refused
// requests are logged too.
type Handler struct {
	// WriterRaw is the log writer module (caddy.logging.writers): stderr
	// (default), stdout, discard, file, net.
	WriterRaw json.RawMessage `json:"writer,omitempty" caddy:"namespace=caddy.logging.writers inline_key=output"`
	// FlushInterval is the longest a line waits in the buffer. 0 writes
	// every line at once (unbuffered). Default 1s.
	FlushInterval *caddy.Duration `json:"flush_interval,omitempty"`
	// BufferSize is the buffer's size in bytes; a full buffer is written at
	// once. Default 64 KiB.
	BufferSize int `json:"buffer_size,omitempty"`

	sink   *sink
	key    string
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.plugboard_access_log", New: func() caddy.Module { return new(Handler) }}
}

// Provision opens (or shares, across config reloads) the buffered writer.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	var opener caddy.WriterOpener = caddy.StderrWriter{}
	if h.WriterRaw != nil {
		mod, err := ctx.LoadModule(h, "WriterRaw")
		if err != nil {
			return fmt.Errorf("plugboard_access_log: loading the output: %w", err)
		}
		opener = mod.(caddy.WriterOpener)
	}
	interval := time.Duration(DefaultFlushInterval)
	if h.FlushInterval != nil {
		interval = time.Duration(*h.FlushInterval)
	}
	if interval < 0 {
		return errors.New("plugboard_access_log: flush_interval must not be negative")
	}
	size := h.BufferSize
	if size == 0 {
		size = DefaultBufferSize
	}
	if size < 0 {
		return errors.New("plugboard_access_log: buffer_size must not be negative")
	}
	h.key = "plugboard_access_log:" + opener.WriterKey()
	val, _, err := sinks.LoadOrNew(h.key, func() (caddy.Destructor, error) {
		w, err := opener.OpenWriter()
		if err != nil {
			return nil, err
		}
		return newSink(w, interval, size, h.logger), nil
	})
	if err != nil {
		return fmt.Errorf("plugboard_access_log: opening %s: %w", opener, err)
	}
	h.sink = val.(*sink)
	return nil
}

// Cleanup releases the writer; the last user flushes and closes it.
func (h *Handler) Cleanup() error {
	if h.sink == nil {
		return nil
	}
	_, err := sinks.Delete(h.key)
	return err
}

// sinks shares one buffered writer per output across config reloads (the
// new config starts before the old one stops), as Caddy's own writers do.
var sinks = caddy.NewUsagePool()

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	err := next.ServeHTTP(rec, r)
	end := time.Now()

	e := entry{
		start:    start,
		duration: end.Sub(start),
		status:   rec.Status(),
		size:     rec.Size(),
		err:      err,
	}
	if body != nil {
		e.bytesRead = body.n
	}
	if err != nil && e.status == 0 {
		// The error routes write the response, after this line is made.
		e.status = http.StatusInternalServerError
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			e.status = he.StatusCode
		}
	} else if e.status == 0 {
		e.status = http.StatusOK // nothing written: net/http answers 200
	}
	buf := bufPool.Get().(*[]byte)
	line := e.append((*buf)[:0], r)
	h.sink.write(line)
	if cap(line) <= maxPooledLine { // a huge URI's buffer is not kept
		*buf = line
		bufPool.Put(buf)
	}
	return err
}

// maxPooledLine is the largest line buffer bufPool keeps.
const maxPooledLine = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// entry is what ServeHTTP measured.
type entry struct {
	start     time.Time
	duration  time.Duration
	status    int
	size      int
	bytesRead int64
	err       error
}

// append encodes the entry and what the request and its context hold as
// one JSON object and a newline.
func (e *entry) append(b []byte, r *http.Request) []byte {
	level := "info"
	if e.status >= 500 {
		level = "error"
	}
	b = append(b, `{"level":"`...)
	b = append(b, level...)
	b = append(b, `","ts":"`...)
	b = appendTimestamp(b, e.start)
	b = append(b, `","logger":"http.log.access","msg":"handled request"`...)

	ctx := r.Context()
	vars, _ := ctx.Value(caddyhttp.VarsCtxKey).(map[string]any)
	if id := r.Header.Get(gatewayctx.HeaderRequestID); id != "" {
		b = appendStringField(b, "request_id", id)
	}
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	b = appendStringField(b, "remote_ip", remote)
	if ip, _ := vars[caddyhttp.ClientIPVarKey].(string); ip != "" && ip != remote {
		b = appendStringField(b, "client_ip", ip)
	}
	b = appendStringField(b, "proto", r.Proto)
	b = appendStringField(b, "method", r.Method)
	b = appendStringField(b, "host", r.Host)
	uri := r.RequestURI
	if orig, ok := ctx.Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.RequestURI != "" {
		uri = orig.RequestURI
	}
	b = appendStringField(b, "uri", uri)
	if ua := r.Header.Get("User-Agent"); ua != "" {
		b = appendStringField(b, "user_agent", ua)
	}
	b = appendIntField(b, "status", int64(e.status))
	b = appendIntField(b, "size", int64(e.size))
	b = appendIntField(b, "bytes_read", e.bytesRead)
	b = appendMillisField(b, "duration_ms", e.duration)

	if s, _ := vars[gatewayctx.VarService].(string); s != "" {
		b = appendStringField(b, "service", s)
	}
	if repl, ok := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if up, ok := repl.Get("http.reverse_proxy.upstream.hostport"); ok {
			if s, _ := up.(string); s != "" {
				b = appendStringField(b, "upstream", s)
			}
			if d, ok := repl.Get("http.reverse_proxy.upstream.latency"); ok {
				if d, ok := d.(time.Duration); ok {
					b = appendMillisField(b, "upstream_ms", d)
				}
			}
			if n, ok := repl.Get("http.reverse_proxy.retries"); ok {
				if n, ok := n.(int); ok && n > 0 {
					b = appendIntField(b, "retries", int64(n))
				}
			}
		}
	}
	if s, _ := vars[gatewayctx.VarUserID].(string); s != "" {
		b = appendStringField(b, "user_id", s)
	}
	if s, _ := vars[gatewayctx.VarTenantID].(string); s != "" {
		b = appendStringField(b, "tenant_id", s)
	}
	if e.err != nil {
		b = appendStringField(b, "error", errorText(e.err))
	}
	return append(b, "}\n"...)
}

// errorText is a handler error's message and Caddy's error ID (which
// Caddy's error log shows too), without the stack trace.
func errorText(err error) string {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		msg := ""
		if he.Err != nil {
			msg = he.Err.Error()
		}
		if he.ID != "" {
			return strings.TrimSpace(msg + " (error id " + he.ID + ")")
		}
		return msg
	}
	return err.Error()
}

// countingBody counts the request-body bytes the handlers read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
