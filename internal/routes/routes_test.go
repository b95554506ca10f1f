package routes_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/routes"
)

// TestCaddyfileMatchesCore pins the shipped Caddyfile's @core matcher.
func TestCaddyfileMatchesCore(t *testing.T) {
	body := read(t, "Caddyfile")
	m := regexp.MustCompile(`(?m)^\s*@core path_regexp (\S+)\s*$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("Caddyfile: no `@core path_regexp` line")
	}
	if m[1] != routes.CoreRegexp() {
		t.Fatalf("Caddyfile @core is %s, want %s (internal/routes)", m[1], routes.CoreRegexp())
	}
	re := regexp.MustCompile(routes.CoreRegexp())
	for _, p := range routes.Core() {
		for _, path := range []string{"/api/" + p, "/api/" + p + "/x", "/API/" + strings.ToUpper(p)} {
			if !re.MatchString(path) {
				t.Errorf("%s does not match %s", path, path)
			}
		}
		if re.MatchString("/api/" + p + "x") {
			t.Errorf("/api/%sx matches", p)
		}
	}
}

// TestDocsListThem pins the lists the docs spell out: core's prefixes and
// the reserved names, in both languages.
func TestDocsListThem(t *testing.T) {
	word := regexp.MustCompile("[a-z][a-z-]*")
	for _, tc := range []struct {
		file string
		// list captures the names (with whatever separates them).
		list *regexp.Regexp
		want []string
	}{
		{"README.md", regexp.MustCompile("`/api/\\{([a-z,-]+)\\}` → core"), routes.Core()},
		{"README.zh-CN.md", regexp.MustCompile("`/api/\\{([a-z,-]+)\\}` → 核心服务"), routes.Core()},
		{"README.md", regexp.MustCompile("Platform names \\(((?:`[a-z-]+`,\\s*)+)plus"), routes.Reserved()},
		{"README.zh-CN.md", regexp.MustCompile("平台保留名（((?:`[a-z-]+`[、，]\\s*)+)以及"), routes.Reserved()},
		{"README.md", regexp.MustCompile(`reserve besides ([a-z, -]+)\.`), routes.Reserved()},
		{"README.zh-CN.md", regexp.MustCompile("除 ([a-z、-]+) 外"), routes.Reserved()},
		{"docs/plugins.md", regexp.MustCompile(`platform names \(([^)]*)\)`), routes.Reserved()},
		{"docs/plugins.zh-CN.md", regexp.MustCompile("平台保留名（([^）]*)）"), routes.Reserved()},
	} {
		m := tc.list.FindStringSubmatch(read(t, tc.file))
		if m == nil {
			t.Errorf("%s: no match for %s", tc.file, tc.list)
			continue
		}
		got := word.FindAllString(strings.ReplaceAll(m[1], " and ", ","), -1)
		got = slices.DeleteFunc(got, func(w string) bool { return w == "and" })
		if !sameSet(got, tc.want) {
			t.Errorf("%s lists %v, want %v (internal/routes)", tc.file, got, tc.want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
