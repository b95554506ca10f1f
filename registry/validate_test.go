package registry_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/routes"
	"github.com/plugboard/plugboard/registry"
)

func TestValidNameIsNamePattern(t *testing.T) {
	re := regexp.MustCompile(registry.NamePattern)
	for _, s := range []string{"", "a", "0", "orders", "a-b_c", "-a", "_a", "A", "aB", "a.b", "a/b", "a b", "é",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "api-keys", "a\n", "a\x00"} {
		if got, want := registry.ValidName(s), re.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v, NamePattern says %v", s, got, want)
		}
	}
}

func FuzzValidName(f *testing.F) {
	re := regexp.MustCompile(registry.NamePattern)
	for _, s := range []string{"orders", "-x", "a_b", "Z", strings.Repeat("b", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := registry.ValidName(s), re.MatchString(s); got != want {
			t.Fatalf("ValidName(%q) = %v, NamePattern says %v", s, got, want)
		}
	})
}

// TestOpenAPICopiesOfTheNameRule pins the copies of the rule the OpenAPI
// documents must carry: every service-name schema's pattern is
// NamePattern, and the registry's reserved-name enum is internal/routes'.
func TestOpenAPICopiesOfTheNameRule(t *testing.T) {
	for file, keys := range map[string][]string{
		"httpapi/openapi.json":         {"name"},    // an instance's name
		"../core/httpapi/openapi.json": {"service"}, // core's "name"s are users' and tenants'
	} {
		var doc any
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var patterns []string
		var enums [][]string
		walk(doc, func(m map[string]any) {
			if props, ok := m["properties"].(map[string]any); ok {
				for _, key := range keys {
					if s, ok := props[key].(map[string]any); ok {
						if p, ok := s["pattern"].(string); ok {
							patterns = append(patterns, p)
						}
						if d, _ := s["description"].(string); strings.Contains(d, "reserved and rejected:") {
							_, list, _ := strings.Cut(d, "reserved and rejected:")
							var names []string
							for _, m := range regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(list, -1) {
								names = append(names, m[1])
							}
							enums = append(enums, names)
						}
						if not, ok := s["not"].(map[string]any); ok {
							var names []string
							for _, v := range not["enum"].([]any) {
								names = append(names, v.(string))
							}
							enums = append(enums, names)
						}
					}
				}
			}
			if name, _ := m["name"].(string); m["in"] != nil && name == "service" {
				if s, ok := m["schema"].(map[string]any); ok {
					if p, ok := s["pattern"].(string); ok {
						patterns = append(patterns, p)
					}
				}
			}
		})
		if len(patterns) == 0 {
			t.Errorf("%s: no service-name pattern found", file)
		}
		for _, p := range patterns {
			if p != registry.NamePattern {
				t.Errorf("%s: a service-name pattern is %s, want registry.NamePattern %s", file, p, registry.NamePattern)
			}
		}
		if keys[0] == "name" && len(enums) != 2 {
			t.Errorf("%s: want the reserved names as an enum and in the description, found %d lists", file, len(enums))
		}
		for _, names := range enums {
			want := routes.Reserved()
			slices.Sort(names)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("%s: reserved names %v, want internal/routes' %v", file, names, want)
			}
		}
	}
}

func walk(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, c := range v {
			walk(c, visit)
		}
	case []any:
		for _, c := range v {
			walk(c, visit)
		}
	}
}

func TestInstanceValidateAndNormalize(t *testing.T) {
	valid := func() *registry.Instance {
		return &registry.Instance{
			Name: "orders", Port: 80, BasePath: "/v1/", UndeclaredPaths: registry.UndeclaredDeny, Tags: []string{"a", "a"},
			Endpoints: []registry.Endpoint{{Path: "/x", Method: " get ", RequiredRoles: []string{" r ", "r"}}, {Path: "/x", Method: "POST"}},
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	in := valid()
	in.Normalize()
	if in.BasePath != "/v1" || in.Endpoints[0].Method != "GET" || !slices.Equal(in.Endpoints[0].RequiredRoles, []string{"r"}) ||
		!slices.Equal(in.Tags, []string{"a"}) || in.Endpoints[1].RequiredRoles == nil {
		t.Fatalf("Normalize = %+v", in)
	}
	for _, tc := range []struct {
		field  string
		mutate func(*registry.Instance)
	}{
		{"name", func(in *registry.Instance) { in.Name = "Orders" }},
		{"name", func(in *registry.Instance) { in.Name = "" }},
		{"port", func(in *registry.Instance) { in.Port = 70000 }},
		{"base_path", func(in *registry.Instance) { in.BasePath = "/a/../b" }},
		{"version", func(in *registry.Instance) { in.Version = "1 0" }},
		{"metadata", func(in *registry.Instance) { in.Metadata = []byte(`[1]`) }},
		{"undeclared_paths", func(in *registry.Instance) { in.UndeclaredPaths = "" }},
		{"tags[1]", func(in *registry.Instance) { in.Tags[1] = "-x" }},
		{"endpoints[0].method", func(in *registry.Instance) { in.Endpoints[0].Method = "FETCH" }},
		{"endpoints[1]", func(in *registry.Instance) { in.Endpoints[1].Method = "GET" }},
		{"endpoints[0].is_public", func(in *registry.Instance) { in.Endpoints[0].IsPublic = true }},
		{"endpoints[0].required_roles[1]", func(in *registry.Instance) { in.Endpoints[0].RequiredRoles[1] = " " }},
	} {
		in := valid()
		tc.mutate(in)
		if in.Problems()[tc.field] == "" || in.Validate() == nil {
			t.Errorf("%s: Problems = %v, want %s named", tc.field, in.Problems(), tc.field)
		}
	}
}
