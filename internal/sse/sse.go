// Package sse writes Server-Sent Events streams, the shape of every watch
// the platform serves (the registry's change feed, the configuration
// center's): the response headers, the client's reconnect delay, events
// whose data may span lines, keep-alive comments, and a flush after each.
package sse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Stream is one open event stream. It is not safe for concurrent use: one
// handler goroutine writes it.
type Stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	b  bytes.Buffer
}

// Start answers 200 with an event-stream that proxies must not buffer or
// cache, and tells the client to reconnect after retry when the stream
// ends. Nothing is flushed until the first Flush or KeepAlive.
func Start(w http.ResponseWriter, retry time.Duration) (*Stream, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &Stream{w: w, rc: http.NewResponseController(w)}
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", retry.Milliseconds()); err != nil {
		return nil, fmt.Errorf("start event stream: %w", err)
	}
	return s, nil
}

// Event writes one event; id may be empty (no id field). Data with line
// breaks spans several data lines, which the client joins with "\n".
func (s *Stream) Event(id, event string, data []byte) error {
	s.b.Reset()
	if id != "" {
		s.b.WriteString("id: " + id + "\n")
	}
	s.b.WriteString("event: " + event + "\n")
	for line := range strings.SplitSeq(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data)), "\n") {
		s.b.WriteString("data: " + line + "\n")
	}
	s.b.WriteString("\n")
	_, err := s.w.Write(s.b.Bytes())
	return err
}

// JSON writes one event whose data is v as JSON, with a numeric id when
// id >= 0.
func (s *Stream) JSON(id int64, event string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	sid := ""
	if id >= 0 {
		sid = strconv.FormatInt(id, 10)
	}
	return s.Event(sid, event, body)
}

// Flush sends what is written so far.
func (s *Stream) Flush() error { return s.rc.Flush() }

// KeepAlive writes a comment line and flushes, so that idle proxies keep
// the connection and a gone client is noticed.
func (s *Stream) KeepAlive() error {
	if _, err := fmt.Fprint(s.w, ": keep-alive\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Reconnect asks the client to reconnect (the server is stopping, the
// client fell behind, its credential is due to be checked again), with
// data telling it where to resume, and flushes.
func (s *Stream) Reconnect(data []byte) error {
	if err := s.Event("", "reconnect", data); err != nil {
		return err
	}
	return s.rc.Flush()
}
