package credential

import (
	"net/http"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		authz []string
		keys  []string
		kind  Kind
		value string
	}{
		{"none", nil, nil, None, ""},
		{"bearer", []string{"Bearer abc"}, nil, Bearer, "abc"},
		{"bearer any case, spaces", []string{"bEaReR   abc  "}, nil, Bearer, "abc"},
		{"apikey scheme", []string{"ApiKey pbk_1"}, nil, APIKey, "pbk_1"},
		{"x-api-key", nil, []string{" pbk_2 "}, APIKey, "pbk_2"},
		{"both headers", []string{"Bearer abc"}, []string{"pbk_2"}, Invalid, ""},
		{"two authorization", []string{"Bearer a", "Bearer b"}, nil, Invalid, ""},
		{"two keys", nil, []string{"a", "b"}, Invalid, ""},
		{"empty key", nil, []string{"  "}, Invalid, ""},
		{"empty bearer", []string{"Bearer "}, nil, Invalid, ""},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, nil, Invalid, ""},
		{"scheme only", []string{"Bearer"}, nil, Invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hd := http.Header{}
			for _, v := range tt.authz {
				hd.Add("Authorization", v)
			}
			for _, v := range tt.keys {
				hd.Add("X-API-Key", v)
			}
			kind, value := Parse(hd)
			if kind != tt.kind || value != tt.value {
				t.Errorf("Parse = %v %q, want %v %q", kind, value, tt.kind, tt.value)
			}
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	hd := http.Header{"Authorization": {"Bearer abc"}}
	if n := testing.AllocsPerRun(100, func() { Parse(hd) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}
