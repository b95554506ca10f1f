package ratelimit

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser(`plugboard_rate_limit {
		default 100 1m burst 10 key tenant
		service orders 5 1s key client_ip
		service billing off
		redis redis://127.0.0.1:6379/0
		prefix pb:
		timeout 50ms
		retry 2s
		trusted_proxies 10.0.0.0/8 192.168.1.1
		max_keys 1000
	}`)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Default == nil || h.Default.Requests != 100 || h.Default.BurstSize() != 10 || h.Default.Key != "tenant" ||
		h.Services["orders"].Requests != 5 || h.Services["billing"] != nil || len(h.TrustedProxies) != 2 || h.MaxKeys != 1000 {
		t.Fatalf("parsed %+v", h)
	}
	if _, has := h.Services["billing"]; !has {
		t.Fatal("service billing off lost")
	}
	var off Handler
	if err := off.UnmarshalCaddyfile(caddyfile.NewTestDispenser("plugboard_rate_limit {\n default off 1s\n}")); err != nil || off.Default != nil {
		t.Fatalf("default off: %v %+v", err, off.Default)
	}
	for _, bad := range []string{"default 0 1m", "default 10 1y", "default 10 1m key header", "default 10", "service Bad 1 1s", "bogus 1", "timeout -1s"} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("plugboard_rate_limit {\n " + bad + "\n}"))
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
