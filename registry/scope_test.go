package registry_test

import (
	"testing"

	"github.com/plugboard/plugboard/registry"
)

func TestScopeService(t *testing.T) {
	for scope, want := range map[string]string{
		"registry:write:notes":  "notes",
		"registry:write:a_b-1":  "a_b-1",
		"registry:write":        "",
		"registry:write:":       "",
		"registry:write:Notes":  "",
		"registry:write:-notes": "",
		"registry:write:a:b":    "",
		"registry:read:notes":   "",
		"orders:write:notes":    "",
	} {
		got, ok := registry.ScopeService(scope)
		if got != want && ok || ok != (want != "") {
			t.Errorf("ScopeService(%q) = %q, %v; want %q", scope, got, ok, want)
		}
	}
	if s := registry.ServiceScope("notes"); s != "registry:write:notes" {
		t.Errorf("ServiceScope(notes) = %q", s)
	}
}
