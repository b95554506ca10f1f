// Package client is a typed Go client of the registry's HTTP API: register,
// heartbeat, deregister, list, and the Server-Sent Events change feed. The
// gateway's Caddy modules and the plugin SDK use it.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/plugboard/plugboard/registry"
)

// Client talks to one registry. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the registry at baseURL (such as
// http://127.0.0.1:8081). token (the registry token, or for reads a
// super_admin's or tenant_admin's access token) is sent as a bearer
// credential on every request, reads and the change feed included: the
// registry answers them 401 without one. A client using an API key sets
// it in hc's transport instead. hc may be nil for a client without
// timeouts (fine for Watch; give writes a context deadline).
func New(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, http: hc}
}

// Error is a non-2xx answer of the registry, with its problem details.
type Error struct {
	Status int
	Type   string            `json:"type"`
	Detail string            `json:"detail"`
	Fields map[string]string `json:"errors"`
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("registry answered %d: %s", e.Status, e.Detail)
	}
	return fmt.Sprintf("registry answered %d", e.Status)
}

// IsNotFound reports whether err is the registry's 404, which for a
// heartbeat means the instance must register again.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("registry request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(e)
		return resp, e
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

// Register registers (or re-registers) an instance described by in's
// registrable fields and returns it as stored, with its ID.
func (c *Client) Register(ctx context.Context, in *registry.Instance) (*registry.Instance, error) {
	body := registry.RegistrationOf(in)
	var out registry.Instance
	if _, err := c.do(ctx, http.MethodPost, "/api/registry/register", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Heartbeat keeps an instance alive; IsNotFound(err) means register again.
func (c *Client) Heartbeat(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodPost, "/api/registry/heartbeat", map[string]string{"service_id": id}, nil)
	return err
}

// Deregister takes an instance out of service.
func (c *Client) Deregister(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodPost, "/api/registry/deregister/"+url.PathEscape(id), nil, nil)
	return err
}

// List returns the instances f selects and the registry's revision when it
// answered. f.Limit and f.Offset page the list; f.NameContains is the
// catalog's filter and is not sent.
func (c *Client) List(ctx context.Context, f registry.Filter) ([]*registry.Instance, int64, error) {
	q := url.Values{}
	if f.Name != "" {
		q.Set("name", f.Name)
	}
	if f.Tag != "" {
		q.Set("tag", f.Tag)
	}
	if f.Version != "" {
		q.Set("version", f.Version)
	}
	if f.IncludeInactive {
		q.Set("include_inactive", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	path := "/api/registry/services"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list []*registry.Instance
	resp, err := c.do(ctx, http.MethodGet, path, nil, &list)
	if err != nil {
		return nil, 0, err
	}
	rev, _ := strconv.ParseInt(resp.Header.Get("X-Registry-Revision"), 10, 64)
	return list, rev, nil
}

// Message is one message of the change feed.
type Message struct {
	// Kind is "snapshot", "reconnect" or an event type ("registered", …).
	Kind string
	// Revision is the revision the message brings the watcher to.
	Revision int64
	// Event is set for event messages.
	Event *registry.Event
	// Instances is set for a snapshot: every active instance.
	Instances []*registry.Instance
}

// Watch follows the change feed from revision from (-1 to start with a
// snapshot), calling fn for each message in order, until the stream ends
// (nil: reconnect from the last revision), ctx is done, or fn fails.
func (c *Client) Watch(ctx context.Context, from int64, fn func(Message) error) error {
	path := "/api/registry/watch"
	if from >= 0 {
		path += "?revision=" + strconv.FormatInt(from, 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("watch request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(e)
		return e
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var event string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if event != "" {
				if err := dispatch(event, data, fn); err != nil {
					return err
				}
			}
			event, data = "", nil
		case bytes.HasPrefix(line, []byte("event: ")):
			event = string(line[7:])
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data[:0], line[6:]...)
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("watch stream: %w", err)
	}
	return ctx.Err()
}

func dispatch(event string, data []byte, fn func(Message) error) error {
	switch event {
	case "snapshot":
		var s struct {
			Revision  int64                `json:"revision"`
			Instances []*registry.Instance `json:"instances"`
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("decode snapshot: %w", err)
		}
		return fn(Message{Kind: event, Revision: s.Revision, Instances: s.Instances})
	case "reconnect":
		var r struct {
			Revision int64 `json:"revision"`
		}
		_ = json.Unmarshal(data, &r)
		return fn(Message{Kind: event, Revision: r.Revision})
	default:
		var ev registry.Event
		if err := json.Unmarshal(data, &ev); err != nil || ev.Instance == nil {
			return fmt.Errorf("decode %s event: %v", event, err)
		}
		return fn(Message{Kind: event, Revision: ev.Revision, Event: &ev})
	}
}
