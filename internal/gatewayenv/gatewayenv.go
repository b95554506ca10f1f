// Package gatewayenv describes the gateway's environment variables — the
// {$PLUGBOARD_…} placeholders of the shipped Caddyfile plus those
// cmd/gateway reads itself — for `plugboard-gateway --help`, the
// launcher's --help and the README's tables, and checks their values
// before the Caddyfile is adapted, so that a bad value names its variable
// instead of surfacing as a Caddy error.
package gatewayenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/envconfig"
)

// Vars documents the gateway's variables, in the README's order.
// docs.TestGatewayVariablesMatchTheCaddyfile keeps it and the Caddyfile in
// step.
var Vars = []envconfig.Var{
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
	{Name: "PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT", Default: "30s", Doc: "How long the gateway waits for an instance's response headers, for a service that asks for no resilience.timeout of its own (at most PLUGBOARD_REGISTRY_MAX_TIMEOUT).",
		DocZH: "服务未自行申请 resilience.timeout 时，网关等待实例返回响应头的最长时间（不超过 PLUGBOARD_REGISTRY_MAX_TIMEOUT）。"},
	// The registry's caps of services' resilience are the gateway's too
	// (the registry's rows document them; these add the gateway as a user).
	{Name: "PLUGBOARD_REGISTRY_MAX_TIMEOUT", Default: "60s", Doc: "The longest upstream timeout a service gets (its resilience.timeout is capped there).",
		DocZH: "服务可获得的最长上游超时（其 resilience.timeout 以此为上限）。"},
	{Name: "PLUGBOARD_REGISTRY_MAX_RETRIES", Default: "3", Doc: "The most retries a service gets (its resilience.retries is capped there), and reverse_proxy's lb_retries.",
		DocZH: "服务可获得的最多重试次数（其 resilience.retries 以此为上限），也是 reverse_proxy 的 lb_retries。"},
	{Name: "PLUGBOARD_GATEWAY_MAX_BODY", Default: "10MB", Doc: "Largest request body the gateway passes on (413 beyond); bodies stream, they are not buffered.",
		DocZH: "网关转发的最大请求体（超出返回 413）；请求体以流式转发，不整体缓存。"},
	{Name: "PLUGBOARD_GATEWAY_ACCESS_LOG", Default: "stderr", Doc: "Where the gateway's JSON access-log lines go: stderr, stdout, discard, or file <path> (rolled at 100 MiB). Lines are written in batches, at most 1 s late.",
		DocZH: "网关 JSON 访问日志的去向：stderr、stdout、discard 或 file <路径>（100 MiB 滚动）。日志成批写出，最多延迟 1 秒。"},
	{Name: "PLUGBOARD_GATEWAY_SIGNING_SECRET", Doc: "Master secret of the X-Plugboard-Signature header the gateway sets for plugins: each service's key is derived from it (plugboard-gateway service-key <service> prints it for the plugin's PLUGBOARD_SERVICE_KEY); plugins never need the master itself. Unset: read from DATA_DIR/gateway.secret, which plugboard-gateway generates once before Caddy starts.",
		DocZH: "网关为插件生成 X-Plugboard-Signature 头所用的主密钥：每个服务的密钥由它派生（plugboard-gateway service-key <服务> 打印出来，供插件的 PLUGBOARD_SERVICE_KEY 使用）；插件本身不需要主密钥。未设置时读取 DATA_DIR/gateway.secret，该文件由 plugboard-gateway 在 Caddy 启动前生成一次。"},
	// The gateway keeps its signing secret there (the registry's row
	// documents the variable; this adds the gateway as a user).
	{Name: "PLUGBOARD_DATA_DIR", Default: "./data", Doc: "Directory of generated secrets; the gateway keeps gateway.secret there.",
		DocZH: "自动生成的密钥所在目录；网关的 gateway.secret 保存在此。"},
	// The gateway reads the registry with the registry's token (the
	// registry's row documents it; this adds the gateway as a user).
	{Name: "PLUGBOARD_REGISTRY_TOKEN", Doc: "The registry token; the gateway sends it on its reads.", DocZH: "注册中心令牌；网关读取注册中心时携带。"},
	{Name: "PLUGBOARD_CORE_FEED_TOKEN", Doc: "The token jwt_auth follows core's change feed with (read at each connect; unset: DATA_DIR/core-feed.token).",
		DocZH: "jwt_auth 订阅核心变更流所用的令牌（每次连接时读取；未设置时读 DATA_DIR/core-feed.token）。"},
	{Name: "PLUGBOARD_CORE_ISSUER", Default: "plugboard", Doc: "The iss and aud of access tokens; core signs with it and the gateway's jwt_auth expects it.",
		DocZH: "访问令牌的 iss 与 aud；核心服务用它签发，网关的 jwt_auth 按它校验。"},
	{Name: "PLUGBOARD_WEB_ROOT", Default: "web/dist", Doc: "Directory of the admin console the gateway serves at / (SPA fallback to index.html); built by make build. Until it is built, a page from web/placeholder says how.",
		DocZH: "网关在 / 提供的管理后台文件目录（SPA 回退到 index.html），由 make build 构建；尚未构建时，web/placeholder 中的页面说明如何构建。"},
	{Name: "PLUGBOARD_REDIS_URL", Doc: "Redis URL for the traffic figures and the rate-limit counts the gateways share (unset: each gateway counts alone).", DocZH: "网关共享流量统计与限流计数所用的 Redis URL（未设置时各网关各自计数）。"},
	{Name: "PLUGBOARD_GATEWAY_RATE_LIMIT", Default: "off", Doc: "Default rate limit of every plugin service, in requests per PLUGBOARD_GATEWAY_RATE_LIMIT_PER for each caller (user, else client address), or off; endpoints' rate_limit and core's quotas apply beside it.",
		DocZH: "每个插件服务的默认限流：每个调用者（用户，否则客户端地址）在 PLUGBOARD_GATEWAY_RATE_LIMIT_PER 内的请求数，或 off；端点的 rate_limit 与核心服务的配额同时生效。"},
	{Name: "PLUGBOARD_GATEWAY_RATE_LIMIT_PER", Default: "1s", Doc: "The period of PLUGBOARD_GATEWAY_RATE_LIMIT (1s to 24h).", DocZH: "PLUGBOARD_GATEWAY_RATE_LIMIT 的周期（1s 至 24h）。"},
	{Name: "PLUGBOARD_REDIS_PREFIX", Default: "plugboard:", Doc: "Prefix of the gateway's Redis keys.", DocZH: "网关 Redis 键的前缀。"},
}

// LBPolicies are the load-balancing policies of Caddy's reverse_proxy
// (v2.11.9); cmd/gateway's tests check the list against the registered
// modules.
var LBPolicies = []string{"client_ip_hash", "cookie", "first", "header", "ip_hash", "least_conn", "query",
	"random", "random_choose", "round_robin", "uri_hash", "weighted_round_robin"}

// Check validates the gateway's variables that getenv returns; the error
// names each bad variable and its value.
func Check(getenv func(string) string) error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %q %s", name, getenv(name), fmt.Sprintf(format, args...)))
	}
	if v := getenv("PLUGBOARD_GATEWAY_LB_POLICY"); v != "" {
		if f := strings.Fields(v); len(f) == 0 || !slices.Contains(LBPolicies, f[0]) {
			bad("PLUGBOARD_GATEWAY_LB_POLICY", "is not one of %s", strings.Join(LBPolicies, ", "))
		}
	}
	for _, name := range []string{"PLUGBOARD_GATEWAY_UPSTREAM_TIMEOUT", "PLUGBOARD_REGISTRY_MAX_TIMEOUT"} {
		if v := getenv(name); v != "" && !validDuration(v) {
			bad(name, "is not a duration such as 30s or 2m")
		}
	}
	if v := getenv("PLUGBOARD_REGISTRY_MAX_RETRIES"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 10 {
			bad("PLUGBOARD_REGISTRY_MAX_RETRIES", "is not a whole number from 0 to 10")
		}
	}
	if v := getenv("PLUGBOARD_GATEWAY_MAX_BODY"); v != "" && !sizePattern.MatchString(v) {
		bad("PLUGBOARD_GATEWAY_MAX_BODY", "is not a size such as 10MB or 512KiB")
	}
	if v := getenv("PLUGBOARD_GATEWAY_ACCESS_LOG"); v != "" {
		f := strings.Fields(v)
		switch {
		case len(f) == 1 && (f[0] == "stderr" || f[0] == "stdout" || f[0] == "discard"):
		case len(f) == 2 && (f[0] == "file" || f[0] == "net"):
		default:
			bad("PLUGBOARD_GATEWAY_ACCESS_LOG", "is not stderr, stdout, discard, file <path> or net <address>")
		}
	}
	if v := getenv("PLUGBOARD_GATEWAY_ADMIN"); v != "" && v != "off" && !strings.HasPrefix(v, "unix/") {
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad("PLUGBOARD_GATEWAY_ADMIN", "is not host:port, unix/<path> or off")
		}
	}
	if v := getenv("PLUGBOARD_GATEWAY_LISTEN"); v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad("PLUGBOARD_GATEWAY_LISTEN", "is not host:port")
		}
	}
	for _, name := range []string{"PLUGBOARD_REGISTRY_URL", "PLUGBOARD_CORE_URL"} {
		if v := getenv(name); v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(name, "is not an http(s) URL")
			}
		}
	}
	return errors.Join(errs...)
}

// sizePattern is what Caddy's request_body max_size accepts (go-humanize).
var sizePattern = regexp.MustCompile(`^\d+(\.\d+)?\s*([kKmMgGtTpPeE][iI]?)?[bB]?$`)

// validDuration reports whether v is a Go duration or Caddy's days form
// (1d, 1.5d).
func validDuration(v string) bool {
	if _, err := time.ParseDuration(v); err == nil {
		return true
	}
	days, ok := strings.CutSuffix(v, "d")
	if !ok {
		return false
	}
	_, err := strconv.ParseFloat(days, 64)
	return err == nil
}
