// Package docs_test keeps the documentation true to the code: the tables of
// environment variables in README.md and README.zh-CN.md are generated from
// the config structs. Run `go test ./docs -update` to rewrite them.
package docs_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/core/cored"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/gatewayenv"
	"github.com/plugboard/plugboard/registry/registryd"
)

var update = flag.Bool("update", false, "rewrite the generated parts of the READMEs")

// processes lists every binary's config struct, in README order.
var processes = []struct {
	binary string
	config any
}{
	{"registry", registryd.Config{}},
	{"core", cored.Config{}},
}

const (
	begin = "<!-- BEGIN CONFIG TABLE: generated from the config structs by `go test ./docs -update` -->"
	end   = "<!-- END CONFIG TABLE -->"
)

type row struct {
	v     envconfig.Var
	users []string
}

func rows() []*row {
	var out []*row
	byName := map[string]*row{}
	type source struct {
		binary string
		vars   []envconfig.Var
	}
	var sources []source
	for _, p := range processes {
		sources = append(sources, source{p.binary, envconfig.Describe(p.config)})
	}
	sources = append(sources, source{"gateway", gatewayenv.Vars})
	for _, p := range sources {
		for _, v := range p.vars {
			r, ok := byName[v.Name]
			if !ok {
				r = &row{v: v}
				byName[v.Name] = r
				out = append(out, r)
			}
			r.users = append(r.users, p.binary)
		}
	}
	return out
}

func table(zh bool) string {
	var b strings.Builder
	if zh {
		b.WriteString("| 变量 | 默认值 | 使用者 | 说明 |\n| --- | --- | --- | --- |\n")
	} else {
		b.WriteString("| Variable | Default | Used by | Description |\n| --- | --- | --- | --- |\n")
	}
	for _, r := range rows() {
		doc, def := r.v.Doc, r.v.Default
		if zh {
			doc = r.v.DocZH
		}
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.v.Name, def, strings.Join(r.users, ", "), doc)
	}
	return b.String()
}

func TestREADMEConfigTables(t *testing.T) {
	for _, f := range []struct {
		path string
		zh   bool
	}{{"../README.md", false}, {"../README.zh-CN.md", true}} {
		t.Run(f.path, func(t *testing.T) {
			raw, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			i, j := strings.Index(text, begin), strings.Index(text, end)
			if i < 0 || j < i {
				t.Fatalf("%s lacks the markers %q … %q", f.path, begin, end)
			}
			want := text[:i] + begin + "\n" + table(f.zh) + text[j:]
			if want == text {
				return
			}
			if *update {
				if err := os.WriteFile(f.path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Errorf("%s's configuration table is out of date; run `go test ./docs -update`", f.path)
		})
	}
}

func TestGatewayVariablesMatchTheCaddyfile(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, m := range regexp.MustCompile(`\{\$(PLUGBOARD_[A-Z_]+)(?::([^}]*))?\}`).FindAllStringSubmatch(string(raw), -1) {
		if prev, ok := found[m[1]]; ok && prev != m[2] {
			t.Errorf("%s has two defaults in the Caddyfile: %q and %q", m[1], prev, m[2])
		}
		found[m[1]] = m[2]
	}
	documented := map[string]string{}
	for _, v := range gatewayenv.Vars {
		documented[v.Name] = v.Default
	}
	for name, def := range found {
		if d, ok := documented[name]; !ok {
			t.Errorf("the Caddyfile uses %s, which gatewayenv.Vars does not document", name)
		} else if d != def {
			t.Errorf("%s: the Caddyfile's default is %q, the documented one %q", name, def, d)
		}
	}
	for name := range documented {
		if _, ok := found[name]; !ok && name != "PLUGBOARD_GATEWAY_CADDYFILE" && name != "PLUGBOARD_GATEWAY_LISTEN" && name != "PLUGBOARD_GATEWAY_SIGNING_SECRET" && name != "PLUGBOARD_REGISTRY_TOKEN" && name != "PLUGBOARD_CORE_FEED_TOKEN" && name != "PLUGBOARD_REDIS_URL" {
			t.Errorf("gatewayenv.Vars documents %s, which the Caddyfile does not use", name)
		}
	}
}

func TestEveryVariableIsDocumented(t *testing.T) {
	for _, r := range rows() {
		if r.v.Doc == "" || r.v.DocZH == "" {
			t.Errorf("%s lacks a doc or doczh tag", r.v.Name)
		}
		if !strings.HasPrefix(r.v.Name, envconfig.Prefix) {
			t.Errorf("%s lacks the %s prefix", r.v.Name, envconfig.Prefix)
		}
	}
}
