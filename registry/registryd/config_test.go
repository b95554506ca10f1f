package registryd_test

import (
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/registry/registryd"
)

// TestConfigRefusesBadListenerAddresses: a listener the registry cannot
// parse would leave it unprotected, so the process does not start.
func TestConfigRefusesBadListenerAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"PLUGBOARD_REGISTRY_PROTECTED_ADDRS", "gateway", "PLUGBOARD_REGISTRY_PROTECTED_ADDRS"},
		{"PLUGBOARD_REGISTRY_PROTECTED_ADDRS", "gateway:99999", "PLUGBOARD_REGISTRY_PROTECTED_ADDRS"},
		{"PLUGBOARD_GATEWAY_ADMIN", "localhost", "PLUGBOARD_GATEWAY_ADMIN"},
		{"PLUGBOARD_CORE_URL", "core:8082", "PLUGBOARD_CORE_URL"},
		{"PLUGBOARD_GATEWAY_SITE", "http://:port", "PLUGBOARD_GATEWAY_SITE"},
	} {
		_, err := envconfig.Parse[registryd.Config](map[string]string{tc.name: tc.value})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want an error naming %s", tc.name, tc.value, err, tc.want)
		}
	}
	for _, v := range []string{"off", "unix//run/caddy-admin.sock", "", "[::1]:2019", "tcp/127.0.0.1:2019", "tcp4/127.0.0.1:2019", "tcp6/[::1]:2019"} {
		if _, err := envconfig.Parse[registryd.Config](map[string]string{"PLUGBOARD_GATEWAY_ADMIN": v}); err != nil {
			t.Errorf("PLUGBOARD_GATEWAY_ADMIN=%q: %v", v, err)
		}
	}
	if _, err := envconfig.Parse[registryd.Config](map[string]string{"PLUGBOARD_GATEWAY_SITE": "gateway.example.com, https://localhost:8443 *.example.org"}); err != nil {
		t.Errorf("a list of site addresses: %v", err)
	}
}
