// Package httpx holds the HTTP plumbing Plugboard's chi services share:
// RFC 9457 problem+json errors mapped from fault codes, JSON request
// decoding with a size limit, request IDs, access logs, panic recovery,
// and serving with graceful shutdown.
package httpx

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/fault"
)

// statuses maps fault codes to HTTP statuses: the one table of it.
var statuses = map[string]int{
	fault.Invalid:      http.StatusBadRequest,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.NotFound:     http.StatusNotFound,
	fault.Conflict:     http.StatusConflict,
	fault.Precondition: http.StatusPreconditionFailed,
	fault.TooLarge:     http.StatusRequestEntityTooLarge,
	fault.RateLimited:  http.StatusTooManyRequests,
	fault.Unavailable:  http.StatusServiceUnavailable,
	fault.Internal:     http.StatusInternalServerError,
}

// problemTypes names the problem type (/problems/<name>) of each status a
// Plugboard component answers: the fault codes' statuses above, and the
// statuses that only HTTP layers produce. The gateway's problem renderer,
// the Go SDK and (pinned by a test) the Python SDK use it.
var problemTypes = map[int]string{
	http.StatusBadRequest:            fault.Invalid,
	http.StatusUnauthorized:          fault.Unauthorized,
	http.StatusForbidden:             fault.Forbidden,
	http.StatusNotFound:              fault.NotFound,
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestTimeout:        "timeout",
	http.StatusConflict:              fault.Conflict,
	http.StatusPreconditionFailed:    fault.Precondition,
	http.StatusRequestEntityTooLarge: fault.TooLarge,
	http.StatusUnsupportedMediaType:  fault.Invalid,
	http.StatusUnprocessableEntity:   fault.Invalid,
	http.StatusTooManyRequests:       fault.RateLimited,
	http.StatusInternalServerError:   fault.Internal,
	http.StatusBadGateway:            "bad_gateway",
	http.StatusServiceUnavailable:    fault.Unavailable,
	http.StatusGatewayTimeout:        "gateway_timeout",
}

// ProblemType returns the problem type of status, such as
// "/problems/not_found": the name in the one table, else "internal" for a
// 5xx and "invalid" for any other status.
func ProblemType(status int) string {
	if name, ok := problemTypes[status]; ok {
		return "/problems/" + name
	}
	if status >= 500 {
		return "/problems/" + fault.Internal
	}
	return "/problems/" + fault.Invalid
}

// ProblemTypes returns a copy of the status → problem-type name table, for
// tests that pin its copies in other languages.
func ProblemTypes() map[int]string { return maps.Clone(problemTypes) }

// Status returns the HTTP status of a fault code.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail,omitempty"`
	Instance string            `json:"instance,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
}

// RetryAfterUnavailable is the Retry-After (seconds) of a 503 whose handler
// set none.
const RetryAfterUnavailable = "2"

// WriteError writes err as application/problem+json. Only internal errors
// (at error level) and unavailable dependencies (at warn level) are logged,
// with the request ID; an internal error's detail is never shown. An invalid
// error that names fields is answered 422, one without fields 400; an
// unavailable one 503 with Retry-After (RetryAfterUnavailable unless the
// handler set one).
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := fault.Code(err)
	status := Status(code)
	fields := fault.Fields(err)
	if code == fault.Invalid && len(fields) > 0 {
		status = http.StatusUnprocessableEntity
	}
	if logger != nil && (code == fault.Internal || code == fault.Unavailable) {
		level := slog.LevelError
		if code == fault.Unavailable {
			level = slog.LevelWarn
		}
		logger.Log(r.Context(), level, "request failed", slog.String("request_id", RequestID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	if code == fault.Unavailable && w.Header().Get("Retry-After") == "" {
		// Clients and SDKs retry after this many seconds; an outage of a
		// dependency is usually over in seconds (a restart, a failover).
		w.Header().Set("Retry-After", RetryAfterUnavailable)
	}
	WriteProblem(w, Problem{
		Type: "/problems/" + code, Title: http.StatusText(status), Status: status,
		Detail: fault.Message(err), Instance: Instance(r), Errors: fields,
	})
}

// Instance is a problem's instance for r: the request's path as a URI
// reference, percent-encoded as the client sent it (r.URL.Path is decoded:
// "/a b" is not a URI reference, "/a%20b" is).
func Instance(r *http.Request) string {
	return r.URL.EscapedPath()
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DefaultBodyLimit is the request body size Decode accepts by default.
const DefaultBodyLimit = 1 << 20

// Decode reads a JSON body of at most limit bytes (DefaultBodyLimit if
// limit <= 0) into v, rejecting unknown fields and trailing data. The body
// is read as JSON whatever its Content-Type says (curl -d sends a form type),
// as Consul does. A null is refused where v cannot hold one (see
// CheckNulls), and so is a null body. Its errors are fault errors:
// too_large, or invalid naming the problem.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return decodeError(err, limit)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return fault.Errorf(fault.Invalid, "The body must hold a single JSON value.")
	}
	return CheckNulls(raw, v)
}

// CheckNulls refuses a JSON null in raw (already decoded into v without
// error) wherever the Go value v cannot tell it from absence: a null body,
// and a null for a field or element of kind string, number, boolean or
// struct, or a pointer field not tagged nullable:"true". Slices, maps,
// interfaces and json.RawMessage take null as what the documents say it is
// (none, or a JSON null kept as given). The error is invalid naming the
// field ("endpoints[0].path").
func CheckNulls(raw []byte, v any) error {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return fault.InvalidFields("The body is null.", map[string]string{"(body)": "must be a JSON object, not null"})
	}
	bad := map[string]string{}
	checkNulls(raw, reflect.TypeOf(v), "", bad)
	if len(bad) > 0 {
		return fault.InvalidFields("A field is null that may not be.", bad)
	}
	return nil
}

func checkNulls(raw json.RawMessage, t reflect.Type, path string, bad map[string]string) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t == rawMessageType {
		return
	}
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == timeType {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return
		}
		for key, val := range obj {
			f, ok := jsonField(t, key)
			if !ok {
				continue
			}
			if isNull(val) {
				if !nullable(f) {
					bad[join(key)] = "must not be null"
				}
				continue
			}
			checkNulls(val, f.Type, join(key), bad)
		}
	case reflect.Slice, reflect.Array:
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return
		}
		for i, val := range list {
			name := fmt.Sprintf("%s[%d]", path, i)
			if isNull(val) {
				if !nullableKind(t.Elem()) {
					bad[name] = "must not be null"
				}
				continue
			}
			checkNulls(val, t.Elem(), name, bad)
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return
		}
		for key, val := range obj {
			if isNull(val) {
				if !nullableKind(t.Elem()) {
					bad[join(key)] = "must not be null"
				}
				continue
			}
			checkNulls(val, t.Elem(), join(key), bad)
		}
	}
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
)

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// nullable reports whether a struct field takes a JSON null.
func nullable(f reflect.StructField) bool {
	if f.Tag.Get("nullable") == "true" {
		return true
	}
	return f.Type.Kind() != reflect.Pointer && nullableKind(f.Type)
}

// nullableKind reports whether a value of t holds a JSON null as such.
func nullableKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

// jsonField finds the field encoding/json decodes key into: the exact
// name first, then a case-insensitive match, through embedded structs.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if ef, ok := jsonField(et, key); ok {
					return ef, true
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
		if !found && strings.EqualFold(name, key) {
			fold, found = f, true
		}
	}
	return fold, found
}

// Query returns r's query parameters, refusing one given with an empty
// value (?limit=, or ?limit): a client that sends a parameter means a value,
// and reading it as absent would silently drop a filter or bound. The error
// is invalid naming the parameter.
func Query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fault.InvalidFields("The query string is malformed.", map[string]string{"(query)": "is not a valid query string"})
	}
	bad := map[string]string{}
	for name, vals := range q {
		for _, v := range vals {
			if v == "" {
				bad[name] = "must not be empty; leave the parameter out instead"
			}
		}
	}
	if len(bad) > 0 {
		return nil, fault.InvalidFields("A query parameter is empty.", bad)
	}
	return q, nil
}

// NonEmptyHeaders refuses a request that sends one of the named headers
// with an empty value: If-Match: "" is not the absence of a precondition,
// and reading it so would make a conditional write unconditional. The
// error is invalid (400) naming the header.
func NonEmptyHeaders(r *http.Request, names ...string) error {
	for _, name := range names {
		vals := r.Header.Values(name)
		if len(vals) > 0 && strings.TrimSpace(strings.Join(vals, "")) == "" {
			return fault.Errorf(fault.Invalid, "The %s header is empty; send a value or leave it out.", name)
		}
	}
	return nil
}

func decodeError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return fault.Errorf(fault.TooLarge, "The body exceeds %d bytes.", limit)
	case errors.Is(err, io.EOF):
		return fault.Errorf(fault.Invalid, "The body is empty; a JSON object is required.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fault.Errorf(fault.Invalid, "The body is truncated JSON.")
	case errors.As(err, &syn):
		return fault.Errorf(fault.Invalid, "The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return fault.InvalidFields("A field has the wrong type.", map[string]string{field: fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type.String()), typ.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fault.InvalidFields("The body has an unknown field.", map[string]string{name: "is not a known field"})
	}
	return fault.Wrap(err, fault.Invalid, "The body could not be read as JSON.")
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"), strings.Contains(goType, "."):
		return "an object"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "a boolean"
	case goType == "string":
		return "a string"
	}
	return goType
}

type requestIDKey struct{}

// RequestID returns the request ID Middleware stored in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Middleware gives every request an ID (the client's X-Request-Id when it is
// sane, else a new one, echoed in the response), recovers panics as 500
// problems, and writes one access-log line per request.
func Middleware(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get("X-Request-Id")
			if !saneID(id) {
				id = newRequestID()
			}
			w.Header().Set("X-Request-Id", id)
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					logger.ErrorContext(r.Context(), "panic", slog.String("request_id", id), slog.Any("panic", p))
					if !sw.wrote {
						WriteError(sw, r, nil, fmt.Errorf("panic: %v", p))
					}
				}
				logger.InfoContext(r.Context(), "request", slog.String("request_id", id), slog.String("method", r.Method),
					slog.String("path", r.URL.Path), slog.Int("status", sw.status),
					slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

func saneID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and friends (SSE).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher for streaming handlers.
func (w *statusWriter) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: new
// connections are refused and in-flight requests get up to grace to finish.
// onShutdown, if set, runs when shutdown starts (to end long-lived streams).
func Serve(ctx context.Context, logger *slog.Logger, ln net.Listener, h http.Handler, grace time.Duration, onShutdown func()) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if onShutdown != nil {
		srv.RegisterOnShutdown(onShutdown)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.String("addr", ln.Addr().String()), slog.Duration("grace", grace))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	return nil
}
