package traffic

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestAppCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     App
		err      bool
	}{
		{"Defaults", "plugboard_traffic", App{}, false},
		{"All", "plugboard_traffic {\n redis redis://r:6379/1\n prefix p:\n flush_interval 5s\n max_series 10\n}",
			App{Redis: "redis://r:6379/1", Prefix: "p:", FlushInterval: caddy.Duration(5 * time.Second), MaxSeries: 10}, false},
		{"EmptyRedisAndPrefix", "plugboard_traffic {\n redis\n prefix\n}", App{}, false},
		{"BadInterval", "plugboard_traffic {\n flush_interval 0s\n}", App{}, true},
		{"BadMaxSeries", "plugboard_traffic {\n max_series none\n}", App{}, true},
		{"Unknown", "plugboard_traffic {\n window 1h\n}", App{}, true},
		{"Argument", "plugboard_traffic on", App{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a App
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
			if (err != nil) != tc.err || !tc.err && (a.Redis != tc.want.Redis || a.Prefix != tc.want.Prefix ||
				a.FlushInterval != tc.want.FlushInterval || a.MaxSeries != tc.want.MaxSeries) {
				t.Fatalf("got %+v, %v", a, err)
			}
		})
	}
}

func TestAPICaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     API
		err      bool
	}{
		{"Defaults", "plugboard_traffic_api", API{}, false},
		{"All", "plugboard_traffic_api {\n core http://c:1\n path /x\n auth_cache 1s\n timeout 2s\n}",
			API{Core: "http://c:1", Path: "/x", AuthCache: caddy.Duration(time.Second), Timeout: caddy.Duration(2 * time.Second)}, false},
		{"CacheOff", "plugboard_traffic_api {\n auth_cache 0\n}", API{AuthCache: -1}, false},
		{"MissingValue", "plugboard_traffic_api {\n core\n}", API{}, true},
		{"BadDuration", "plugboard_traffic_api {\n timeout soon\n}", API{}, true},
		{"Unknown", "plugboard_traffic_api {\n roles super_admin\n}", API{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a API
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
			if (err != nil) != tc.err || !tc.err && (a.Core != tc.want.Core || a.Path != tc.want.Path ||
				a.AuthCache != tc.want.AuthCache || a.Timeout != tc.want.Timeout) {
				t.Fatalf("got %+v, %v", a, err)
			}
		})
	}
}
