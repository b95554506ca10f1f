package main

import (
	"maps"
	"testing"
)

// TestListenEnv: PLUGBOARD_GATEWAY_LISTEN is a bind address, never a Host
// matcher (issue 11, finding 18: 127.0.0.1:18080 used to listen on every
// interface and answer other Hosts with an empty 200).
func TestListenEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
		err  bool
	}{
		{"unset", map[string]string{}, nil, false},
		{"loopback", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1:18080"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080", "PLUGBOARD_GATEWAY_BIND": "127.0.0.1"}, false},
		{"ipv6", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "[::1]:18080"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080", "PLUGBOARD_GATEWAY_BIND": "::1"}, false},
		{"any interface", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": ":18080"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080"}, false},
		{"bind set", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1:18080", "PLUGBOARD_GATEWAY_BIND": "10.0.0.1"},
			map[string]string{"PLUGBOARD_GATEWAY_SITE": "http://:18080"}, false},
		{"site wins", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1:18080", "PLUGBOARD_GATEWAY_SITE": "https://gw.example"}, nil, false},
		{"no port", map[string]string{"PLUGBOARD_GATEWAY_LISTEN": "127.0.0.1"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listenEnv(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.err || !maps.Equal(got, tc.want) {
				t.Fatalf("listenEnv = %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}
