package cored_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/plugboard/plugboard/internal/testenv"
)

// TestRateLimitQuotas: a super_admin sets a tenant's quota (PATCH
// /api/tenants/{id}), a tenant admin may not (the attack: lifting their
// own); an API key gets its quota at creation; /api/auth/verify hands both
// to the gateway; bad shapes are refused naming the field; every write is
// audited.
func TestRateLimitQuotas(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b.env(t))
		w := setup(t, s)
		quota := map[string]any{"requests": 100, "per": "1m", "key": "tenant"}

		if r := s.do("PATCH", "/api/tenants/"+w.tenantB, w.bAdmin, map[string]any{"rate_limit": nil}); r.Status != 403 {
			t.Fatalf("tenant admin clearing their quota: %d %s", r.Status, r.Body)
		}
		if r := s.do("PATCH", "/api/tenants/"+w.tenantB, w.bAdmin, map[string]any{"rate_limit": quota}); r.Status != 403 {
			t.Fatalf("tenant admin setting their quota: %d %s", r.Status, r.Body)
		}
		r := s.do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"rate_limit": map[string]any{"requests": 0, "per": "1y"}})
		if p := r.Problem(t); r.Status != 422 || p.Errors["rate_limit.requests"] == "" || p.Errors["rate_limit.per"] == "" {
			t.Fatalf("bad quota: %d %+v", r.Status, p)
		}
		r = s.do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"rate_limit": quota})
		var tenant struct {
			RateLimit json.RawMessage `json:"rate_limit"`
		}
		r.Decode(t, &tenant)
		if r.Status != 200 {
			t.Fatalf("super admin setting a quota: %d %s", r.Status, r.Body)
		}
		testenv.SameJSON(t, "tenant rate_limit", tenant.RateLimit, []byte(`{"requests":100,"per":"1m","key":"tenant"}`))

		r = s.do("POST", "/api/api-keys", w.bAdmin, map[string]any{"name": "limited", "scopes": []string{"orders:read"},
			"rate_limit": map[string]any{"requests": 5, "per": "1s", "burst": 2}})
		var created struct {
			APIKey struct {
				ID        string          `json:"id"`
				RateLimit json.RawMessage `json:"rate_limit"`
			} `json:"api_key"`
			Key string `json:"key"`
		}
		r.Decode(t, &created)
		if r.Status != 201 {
			t.Fatalf("create a key with a quota: %d %s", r.Status, r.Body)
		}
		testenv.SameJSON(t, "key rate_limit", created.APIKey.RateLimit, []byte(`{"requests":5,"per":"1s","burst":2}`))
		if r := s.do("POST", "/api/api-keys", w.bAdmin, map[string]any{"name": "bad", "rate_limit": map[string]any{"requests": 5, "per": "1s", "key": "header"}}); r.Status != 422 || r.Problem(t).Errors["rate_limit.key"] == "" {
			t.Fatalf("bad key quota: %d %s", r.Status, r.Body)
		}

		var id struct {
			APIKeyID        string          `json:"api_key_id"`
			TenantRateLimit json.RawMessage `json:"tenant_rate_limit"`
			APIKeyRateLimit json.RawMessage `json:"api_key_rate_limit"`
		}
		v := testenv.Do(t, "POST", s.URL+"/api/auth/verify", nil, "X-API-Key", created.Key)
		v.Decode(t, &id)
		if v.Status != 200 || id.APIKeyID != created.APIKey.ID {
			t.Fatalf("verify: %d %s", v.Status, v.Body)
		}
		testenv.SameJSON(t, "verify tenant_rate_limit", id.TenantRateLimit, []byte(`{"requests":100,"per":"1m","key":"tenant"}`))
		testenv.SameJSON(t, "verify api_key_rate_limit", id.APIKeyRateLimit, []byte(`{"requests":5,"per":"1s","burst":2}`))

		// Cleared: the verify answer has none.
		if r := s.do("PATCH", "/api/tenants/"+w.tenantB, w.super, map[string]any{"rate_limit": nil}); r.Status != 200 {
			t.Fatalf("clear: %d %s", r.Status, r.Body)
		}
		v = testenv.Do(t, "POST", s.URL+"/api/auth/verify", nil, "X-API-Key", w.bKey)
		var plain map[string]json.RawMessage
		v.Decode(t, &plain)
		if _, has := plain["tenant_rate_limit"]; has || v.Status != 200 {
			t.Fatalf("verify after clearing: %d %s", v.Status, v.Body)
		}

		var audit []struct {
			Action string         `json:"action"`
			Detail map[string]any `json:"detail"`
		}
		a := s.do("GET", "/api/audit?"+url.Values{"action": {"tenant.update"}, "object_id": {w.tenantB}}.Encode(), w.super, nil)
		a.Decode(t, &audit)
		if a.Status != 200 || len(audit) != 2 {
			t.Fatalf("audit of the quota changes: %d %s", a.Status, a.Body)
		}
	})
}
