// Package storetest is the contract suite every registry.Store must pass.
// Each implementation's test calls Run with a constructor of fresh stores.
package storetest

import (
	"encoding/json"
	"testing"

	"github.com/plugboard/plugboard/registry"
)

// Run exercises the store open returns; open is called once per subtest and
// must return an empty store. The contract is checked by concern, each in
// its own file.
func Run(t *testing.T, open func(t *testing.T) registry.Store) {
	t.Run("Instances", func(t *testing.T) { testInstances(t, open) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, open) })
	t.Run("Liveness", func(t *testing.T) { testLiveness(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
}

// newInstance returns a valid instance of name on port, with endpoints,
// metadata and a tag.
func newInstance(name string, port int) *registry.Instance {
	return &registry.Instance{
		Name: name, DisplayName: "The " + name, Version: "1.0.0", Host: "10.0.0.1", Port: port,
		BasePath: "/v1", Metadata: json.RawMessage(`{"team":"a"}`), Tags: []string{"blue"},
		Endpoints: []registry.Endpoint{
			{Path: "/items", Method: "GET", Description: "list", IsPublic: true},
			{Path: "/items/{id}", Method: "DELETE", RequiredRoles: []string{"tenant_admin"}, RateLimit: &registry.RateLimit{Requests: 10, Per: "1m"}},
		},
	}
}
