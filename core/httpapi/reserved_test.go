package httpapi

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/plugboard/plugboard/internal/ephemeral"
)

// TestReservedConfigKeys performs the attack: a tenant_admin writes, deletes
// or rolls back a key the platform reads itself ("plugboard.…") in its own
// tenant's configuration, which it may otherwise change freely: 403 for
// every write, and nothing written. A super_admin may, in any scope, and
// a reserved key's check refuses a bad value (400, naming the value).
func TestReservedConfigKeys(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, func() ephemeral.PubSub { return nil }, func(o *Options) {
		o.ReservedValidators = map[string]func(json.RawMessage) error{
			"plugboard.routing": func(v json.RawMessage) error {
				if string(v) != `{"ok":true}` {
					return errors.New(`must be {"ok":true}`)
				}
				return nil
			},
		}
	})
	own := "?scope=tenant&tenant_id=" + h.a.ID
	h.want("tenant_admin writes its own tenant's ordinary key", h.do(adminA, "PUT", "/api/config/orders/plain"+own, `{"value":1}`), 201)
	for _, key := range []string{"plugboard.x", "plugboard.routing"} {
		path := "/api/config/orders/" + key + own
		h.want("tenant_admin puts "+key, h.do(adminA, "PUT", path, `{"value":1}`), 403)
		h.want("super_admin puts "+key+" in a tenant", h.do(super, "PUT", path, `{"value":{"ok":true}}`), 201)
		h.want("tenant_admin deletes "+key, h.do(adminA, "DELETE", path, ""), 403)
		h.want("tenant_admin rolls "+key+" back", h.do(adminA, "POST", "/api/config/orders/"+key+"/rollback"+own, `{"version":1}`), 403)
		if e := h.want("read "+key, h.do(adminA, "GET", path, ""), 200).json(t); e["version"] != float64(1) {
			t.Fatalf("%s after refused writes: %v", key, e)
		}
	}
	global := "/api/config/gateway/plugboard.routing?scope=global"
	bad := h.want("a value the check refuses", h.do(super, "PUT", global, `{"value":{"ok":false}}`), 422).json(t)
	if fields, _ := bad["errors"].(map[string]any); fields["value"] == nil {
		t.Fatalf("refusal does not name the value: %v", bad)
	}
	h.want("a value the check accepts", h.do(super, "PUT", global, `{"value":{"ok":true}}`), 201)
	h.want("an unknown reserved key takes any JSON", h.do(super, "PUT", "/api/config/gateway/plugboard.other?scope=global", `{"value":[1,"x"]}`), 201)
}
