package registry_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/plugboard/plugboard/registry"
)

func TestRateLimitShape(t *testing.T) {
	var l registry.RateLimit
	if err := json.Unmarshal([]byte(`{"requests":100,"per":"1m","burst":20,"key":"tenant"}`), &l); err != nil {
		t.Fatal(err)
	}
	if bad := l.Problems(); len(bad) != 0 {
		t.Fatalf("problems %v", bad)
	}
	if l.Period() != time.Minute || l.Interval() != 600*time.Millisecond || l.BurstSize() != 20 || l.KeyOrDefault() != registry.KeyTenant {
		t.Fatalf("parsed %+v", l)
	}
	out, _ := json.Marshal(&l)
	if string(out) != `{"requests":100,"per":"1m","burst":20,"key":"tenant"}` {
		t.Fatalf("marshal %s", out)
	}
	d := registry.RateLimit{Requests: 10, Per: "1s"}
	if d.BurstSize() != 10 || d.KeyOrDefault() != registry.KeyUser {
		t.Fatalf("defaults %+v", d)
	}
	if !d.Stricter(nil) || d.Stricter(&registry.RateLimit{Requests: 5, Per: "1s"}) || !(&registry.RateLimit{Requests: 5, Per: "1s"}).Stricter(&d) {
		t.Fatal("Stricter")
	}
}

func TestRateLimitProblems(t *testing.T) {
	tests := []struct{ in, field string }{
		{`[1]`, "endpoints[0].rate_limit"},
		{`{"per":"1m"}`, "endpoints[0].rate_limit.requests"},
		{`{"requests":"ten","per":"1m"}`, "endpoints[0].rate_limit.requests"},
		{`{"requests":1.5,"per":"1m"}`, "endpoints[0].rate_limit.requests"},
		{`{"requests":10}`, "endpoints[0].rate_limit.per"},
		{`{"requests":10,"per":"fortnight"}`, "endpoints[0].rate_limit.per"},
		{`{"requests":10,"per":"10ms"}`, "endpoints[0].rate_limit.per"},
		{`{"requests":10,"per":"48h"}`, "endpoints[0].rate_limit.per"},
		{`{"requests":10,"per":"1m","burst":-1}`, "endpoints[0].rate_limit.burst"},
		{`{"requests":10,"per":"1m","key":"header"}`, "endpoints[0].rate_limit.key"},
		{`{"requests":10,"per":"1m","per_minute":5}`, "endpoints[0].rate_limit.per_minute"},
	}
	for _, tc := range tests {
		var in registry.Instance
		body := `{"name":"svc","host":"127.0.0.1","port":80,"undeclared_paths":"authenticated","endpoints":[{"path":"/a","method":"GET","rate_limit":` + tc.in + `}]}`
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatalf("%s: decode: %v", tc.in, err)
		}
		bad := in.Problems()
		if bad[tc.field] == "" {
			t.Errorf("%s: problems %v, want one for %s", tc.in, bad, tc.field)
		}
	}
}
