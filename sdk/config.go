package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ConfigClient reads the configuration center with an API key (a tenant
// key reads its tenant's entries; scope "global" reads the platform's).
type ConfigClient struct {
	coreURL string
	apiKey  string
	http    *http.Client
}

// NewConfigClient returns a client of the configuration center at coreURL.
func NewConfigClient(coreURL, apiKey string) *ConfigClient {
	return &ConfigClient{coreURL: strings.TrimSuffix(coreURL, "/"), apiKey: apiKey, http: &http.Client{}}
}

// ConfigEntry is one configuration value.
type ConfigEntry struct {
	Scope   string          `json:"scope"` // "global" or "tenant"
	Service string          `json:"service"`
	Key     string          `json:"key"`
	Version int             `json:"version"`
	Deleted bool            `json:"deleted"`
	Value   json.RawMessage `json:"value"`
}

func (c *ConfigClient) request(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := c.coreURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", c.apiKey)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("config center: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("config center answered %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp, nil
}

// Get reads one entry of service in scope ("tenant", the default, or
// "global") and decodes its value into v.
func (c *ConfigClient) Get(ctx context.Context, scope, service, key string, v any) (*ConfigEntry, error) {
	q := url.Values{}
	if scope != "" {
		q.Set("scope", scope)
	}
	resp, err := c.request(ctx, "/api/config/"+url.PathEscape(service)+"/"+key, q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var e ConfigEntry
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		return nil, fmt.Errorf("config center: decode: %w", err)
	}
	if v != nil {
		if err := json.Unmarshal(e.Value, v); err != nil {
			return &e, fmt.Errorf("config %s/%s: %w", service, key, err)
		}
	}
	return &e, nil
}

// Watch calls fn for every current entry of service in scope, then for
// every change (within a second of the write), until ctx ends; it
// reconnects by itself. Deleted entries arrive with Deleted set. Core's
// notifications are at most once per connection, so after a reconnect
// Watch compares the new snapshot with what it reported: entries written
// meanwhile arrive once, and entries deleted meanwhile arrive with Deleted
// set (and a Version one past the last one seen, since the delete's own is
// not known). Nothing is reported twice.
func (c *ConfigClient) Watch(ctx context.Context, scope, service string, fn func(ConfigEntry)) error {
	q := url.Values{}
	if service != "" { // an empty query value is refused: leave it out
		q.Set("service", service)
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	type address struct{ service, key string }
	last := map[address]ConfigEntry{} // the latest report per entry
	report := func(e ConfigEntry) {
		a := address{e.Service, e.Key}
		if prev, ok := last[a]; ok && prev.Version >= e.Version {
			return
		}
		last[a] = e
		fn(e)
	}
	snapshot := func(entries []ConfigEntry) {
		present := map[address]bool{}
		for _, e := range entries {
			present[address{e.Service, e.Key}] = true
			report(e)
		}
		for a, e := range last {
			if !e.Deleted && !present[a] { // deleted while the stream was down
				report(ConfigEntry{Scope: e.Scope, Service: e.Service, Key: e.Key, Version: e.Version + 1, Deleted: true})
			}
		}
	}
	for ctx.Err() == nil {
		err := c.watchOnce(ctx, q, snapshot, report)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			sleep(ctx, time.Second)
		}
	}
	return nil
}

// watchOnce reads one watch stream until it ends, passing its snapshot
// and each change on.
func (c *ConfigClient) watchOnce(ctx context.Context, q url.Values, snapshot func([]ConfigEntry), change func(ConfigEntry)) error {
	resp, err := c.request(ctx, "/api/config/watch", q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data := []byte(line[6:])
			switch event {
			case "snapshot":
				var snap struct {
					Entries []ConfigEntry `json:"entries"`
				}
				if json.Unmarshal(data, &snap) == nil {
					snapshot(snap.Entries)
				}
			case "change":
				var e ConfigEntry
				if json.Unmarshal(data, &e) == nil {
					change(e)
				}
			}
		case line == "":
			event = ""
		}
	}
	return sc.Err()
}
