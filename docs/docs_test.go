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
	"github.com/plugboard/plugboard/registry/registryd"
)

var update = flag.Bool("update", false, "rewrite the generated parts of the READMEs")

// gatewayVars documents the gateway's variables: the {$PLUGBOARD_…}
// placeholders of the Caddyfile, plus those cmd/gateway reads itself.
// TestGatewayVariablesMatchTheCaddyfile keeps this list and the Caddyfile
// in step.
var gatewayVars = []envconfig.Var{
	{Name: "PLUGBOARD_GATEWAY_SITE", Default: "http://:8080",
		Doc:   "The gateway's Caddy site address: http://:8080 (plain HTTP), a domain such as gateway.example.com (automatic HTTPS), or https://localhost:8443 (local HTTPS from Caddy's internal CA).",
		DocZH: "网关的 Caddy 站点地址：http://:8080（纯 HTTP）、域名如 gateway.example.com（自动 HTTPS），或 https://localhost:8443（由 Caddy 内置 CA 签发的本地 HTTPS）。"},
	{Name: "PLUGBOARD_GATEWAY_LISTEN", Doc: "A bind address host:port, when SITE is unset: the site http://:<port> bound to <host> (PLUGBOARD_GATEWAY_BIND).",
		DocZH: "未设置 PLUGBOARD_GATEWAY_SITE 时使用的绑定地址 host:port：站点 http://:<port>，绑定到 <host>（PLUGBOARD_GATEWAY_BIND）。"},
	{Name: "PLUGBOARD_GATEWAY_BIND", Doc: "The interface(s) the gateway listens on (Caddy's default_bind), e.g. 127.0.0.1. Unset: every interface.",
		DocZH: "网关监听的网络接口（Caddy 的 default_bind），如 127.0.0.1。未设置时监听所有接口。"},
	{Name: "PLUGBOARD_GATEWAY_PRESERVE_HOST", Doc: "Plugin services (comma-separated) whose instances receive the client's Host header; every other instance receives its own host:port (the client's Host is in X-Forwarded-Host).",
		DocZH: "实例接收客户端 Host 头的插件服务（逗号分隔）；其他实例收到的 Host 为其自身的 host:port（客户端的 Host 放在 X-Forwarded-Host）。"},
	{Name: "PLUGBOARD_GATEWAY_ADMIN", Default: "127.0.0.1:2019", Doc: "Caddy's admin API address (keep it on loopback), or off.",
		DocZH: "Caddy 管理 API 的地址（请只绑定回环地址），或 off 关闭。"},
	{Name: "PLUGBOARD_GATEWAY_CADDYFILE", Default: "Caddyfile", Doc: "The Caddyfile the gateway serves when run with no arguments.",
		DocZH: "网关无参数启动时加载的 Caddyfile。"},
	{Name: "PLUGBOARD_REGISTRY_URL", Default: "http://127.0.0.1:8081", Doc: "Where the gateway (and the launcher) reach the registry: its API and change feed.",
		DocZH: "网关（及启动器）访问注册中心的地址：其 API 与变更推送。"},
	{Name: "PLUGBOARD_CORE_URL", Default: "http://127.0.0.1:8082", Doc: "Where the gateway reaches the core service.",
		DocZH: "网关访问核心服务的地址。"},
	{Name: "PLUGBOARD_GATEWAY_LB_POLICY", Default: "least_conn", Doc: "Load-balancing policy across a service's instances: least_conn, round_robin, random, ip_hash, first, …",
		DocZH: "同一服务多实例间的负载均衡策略：least_conn、round_robin、random、ip_hash、first 等。"},
	{Name: "PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT", Default: "30s", Doc: "How long the gateway waits for an instance's response headers.",
		DocZH: "网关等待实例返回响应头的最长时间。"},
	{Name: "PLUGBOARD_GATEWAY_MAX_BODY", Default: "10MB", Doc: "Largest request body the gateway passes on (413 beyond); bodies stream, they are not buffered.",
		DocZH: "网关转发的最大请求体（超出返回 413）；请求体以流式转发，不整体缓存。"},
	{Name: "PLUGBOARD_GATEWAY_ACCESS_LOG", Default: "stderr", Doc: "Where the gateway's JSON access-log lines go: stderr, stdout, discard, or file <path> (rolled at 100 MiB). Lines are written in batches, at most 1 s late.",
		DocZH: "网关 JSON 访问日志的去向：stderr、stdout、discard 或 file <路径>（100 MiB 滚动）。日志成批写出，最多延迟 1 秒。"},
	{Name: "PLUGBOARD_GATEWAY_SIGNING_SECRET", Doc: "HMAC secret of the X-Plugboard-Signature header the gateway sets for plugins; plugins verify with the same secret. Unset: generated once into DATA_DIR/gateway.secret.",
		DocZH: "网关为插件生成 X-Plugboard-Signature 头所用的 HMAC 密钥；插件用同一密钥校验。未设置时自动生成一次并保存到 DATA_DIR/gateway.secret。"},
	// The gateway reads the registry with the registry's token (the
	// registry's row documents it; this adds the gateway as a user).
	{Name: "PLUGBOARD_REGISTRY_TOKEN", Doc: "The registry token; the gateway sends it on its reads.", DocZH: "注册中心令牌；网关读取注册中心时携带。"},
	{Name: "PLUGBOARD_CORE_ISSUER", Default: "plugboard", Doc: "The iss and aud of access tokens; core signs with it and the gateway's jwt_auth expects it.",
		DocZH: "访问令牌的 iss 与 aud；核心服务用它签发，网关的 jwt_auth 按它校验。"},
	{Name: "PLUGBOARD_WEB_ROOT", Default: "web/dist", Doc: "Directory of the admin console the gateway serves at / (SPA fallback to index.html); built by make build. Until it is built, a page from web/placeholder says how.",
		DocZH: "网关在 / 提供的管理后台文件目录（SPA 回退到 index.html），由 make build 构建；尚未构建时，web/placeholder 中的页面说明如何构建。"},
}

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
	sources = append(sources, source{"gateway", gatewayVars})
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
	for _, v := range gatewayVars {
		documented[v.Name] = v.Default
	}
	for name, def := range found {
		if d, ok := documented[name]; !ok {
			t.Errorf("the Caddyfile uses %s, which gatewayVars does not document", name)
		} else if d != def {
			t.Errorf("%s: the Caddyfile's default is %q, the documented one %q", name, def, d)
		}
	}
	for name := range documented {
		if _, ok := found[name]; !ok && name != "PLUGBOARD_GATEWAY_CADDYFILE" && name != "PLUGBOARD_GATEWAY_LISTEN" && name != "PLUGBOARD_GATEWAY_SIGNING_SECRET" && name != "PLUGBOARD_REGISTRY_TOKEN" {
			t.Errorf("gatewayVars documents %s, which the Caddyfile does not use", name)
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
