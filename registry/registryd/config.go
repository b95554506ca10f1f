package registryd

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/registry"
	"github.com/plugboard/plugboard/registry/httpapi"
)

// Config is the registry process's configuration, read from PLUGBOARD_*
// variables.
type Config struct {
	Listen          string        `env:"REGISTRY_LISTEN" envDefault:"127.0.0.1:8081" doc:"Address the registry listens on (host:port)." doczh:"注册中心的监听地址（host:port）。"`
	Token           string        `env:"REGISTRY_TOKEN" doc:"Bearer token every registry call accepts (writes also take API keys with registry:write, or registry:write:<service> for that service only; deregister also a super_admin's access token; reads also registry:read keys and admins' access tokens). Unset: generated once and kept in DATA_DIR/registry.token." doczh:"所有注册中心调用都接受的 Bearer 令牌（写操作也接受带 registry:write 的 API 密钥，或只能写该服务的 registry:write:<服务名> 密钥；注销也接受 super_admin 的访问令牌；读操作也接受带 registry:read 的密钥及管理员的访问令牌）。未设置时自动生成一次并保存在 DATA_DIR/registry.token。"`
	CoreURL         string        `env:"CORE_URL" envDefault:"http://127.0.0.1:8082" doc:"Where the gateway, the registry and the launcher reach the core service (API keys are checked there)." doczh:"网关、注册中心和启动器访问核心服务的地址（API 密钥在此校验）。"`
	KeyCacheTTL     time.Duration `env:"REGISTRY_KEY_CACHE_TTL" envDefault:"30s" doc:"How long the registry trusts core's answer about an API key or access token (revocation takes effect within it); a change feed opened with one is asked to reconnect this often." doczh:"注册中心缓存核心服务对 API 密钥或访问令牌校验结果的时长（吊销在此时间内生效）；用它们打开的变更推送每隔这么久会被要求重连。"`
	InactiveAfter   time.Duration `env:"REGISTRY_INACTIVE_AFTER" envDefault:"5m" doc:"An instance without a heartbeat this long becomes inactive and leaves the list." doczh:"实例超过该时长没有心跳即变为不活跃，并从服务列表中移除。"`
	SweepInterval   time.Duration `env:"REGISTRY_SWEEP_INTERVAL" envDefault:"5s" doc:"How often the lease-holding replica flushes heartbeats and expires silent instances." doczh:"持有租约的副本多久刷新一次心跳并清理无心跳实例。"`
	HealthInterval  time.Duration `env:"REGISTRY_HEALTH_INTERVAL" envDefault:"5s" doc:"How often each instance's health_check_url is probed." doczh:"探测每个实例 health_check_url 的间隔。"`
	HealthTimeout   time.Duration `env:"REGISTRY_HEALTH_TIMEOUT" envDefault:"2s" doc:"Timeout of one health probe." doczh:"单次健康探测的超时时间。"`
	HealthFailAfter int           `env:"REGISTRY_HEALTH_FAIL_AFTER" envDefault:"2" doc:"Consecutive failed probes that mark an instance unhealthy (one success marks it healthy)." doczh:"连续失败多少次探测后标记为不健康（一次成功即恢复健康）。"`
	ReservedNames   []string      `env:"REGISTRY_RESERVED_NAMES" envSeparator:"," doc:"Comma-separated service names to reserve besides registry, gateway, auth, users, tenants, api-keys, config, roles and audit." doczh:"除 registry、gateway、auth、users、tenants、api-keys、config、roles、audit 外，额外保留的服务名（逗号分隔）。"`
	AllowedCIDRs    []string      `env:"REGISTRY_ALLOWED_CIDRS" envSeparator:"," doc:"Comma-separated networks instances may register addresses in (e.g. 10.0.0.0/8). Unset: any address but link-local, unspecified, multicast and cloud metadata services." doczh:"允许实例注册的地址网段（逗号分隔，如 10.0.0.0/8）。未设置时允许除链路本地、未指定、组播和云元数据服务外的任何地址。"`
	AllowLoopback   bool          `env:"REGISTRY_ALLOW_LOOPBACK" envDefault:"true" doc:"Accept instances on loopback addresses (127.0.0.0/8, ::1, localhost), as local plugins need; set false in production. The platform's own listeners are refused either way." doczh:"是否接受回环地址（127.0.0.0/8、::1、localhost）上的实例，本地插件需要；生产环境请设为 false。平台自身的监听地址无论如何都会被拒绝。"`
	ProtectedAddrs  []string      `env:"REGISTRY_PROTECTED_ADDRS" envSeparator:"," doc:"Comma-separated host:port addresses of the platform's own listeners on other machines (e.g. gateway:2019) that no instance may point at, besides the registry's, core's and the gateway's own (read from their variables)." doczh:"逗号分隔的平台自身监听地址（host:port，如 gateway:2019），位于其他机器上；任何实例都不得指向它们。注册中心、核心服务和网关自身的地址已从各自的变量中读取。"`
	RegistryURL     string        `env:"REGISTRY_URL" envDefault:"http://127.0.0.1:8081" doc:"Where the gateway (and the launcher) reach the registry: its API and change feed." doczh:"网关（及启动器）访问注册中心的地址：其 API 与变更推送。"`
	CoreListen      string        `env:"CORE_LISTEN" envDefault:"127.0.0.1:8082" doc:"Address the core service listens on (host:port)." doczh:"核心服务的监听地址（host:port）。"`
	GatewaySite     string        `env:"GATEWAY_SITE" envDefault:"http://:8080" doc:"The gateway's Caddy site address: http://:8080 (plain HTTP), a domain such as gateway.example.com (automatic HTTPS), or https://localhost:8443 (local HTTPS from Caddy's internal CA)." doczh:"网关的 Caddy 站点地址：http://:8080（纯 HTTP）、域名如 gateway.example.com（自动 HTTPS），或 https://localhost:8443（由 Caddy 内置 CA 签发的本地 HTTPS）。"`
	GatewayListen   string        `env:"GATEWAY_LISTEN" doc:"A bind address host:port, when SITE is unset: the site http://:<port> bound to <host> (PLUGBOARD_GATEWAY_BIND)." doczh:"未设置 PLUGBOARD_GATEWAY_SITE 时使用的绑定地址 host:port：站点 http://:<port>，绑定到 <host>（PLUGBOARD_GATEWAY_BIND）。"`
	GatewayAdmin    string        `env:"GATEWAY_ADMIN" envDefault:"127.0.0.1:2019" doc:"Caddy's admin API address (keep it on loopback), or off." doczh:"Caddy 管理 API 的地址（请只绑定回环地址），或 off 关闭。"`
	MaxTimeout      time.Duration `env:"REGISTRY_MAX_TIMEOUT" envDefault:"60s" doc:"The longest upstream timeout (resilience.timeout) an instance may ask for; the shipped Caddyfile caps the gateway at the same value." doczh:"实例可申请的最长上游超时（resilience.timeout）；随附的 Caddyfile 以同一值为网关的上限。"`
	MaxRetries      int           `env:"REGISTRY_MAX_RETRIES" envDefault:"3" doc:"The most retries (resilience.retries) an instance may ask for; the shipped Caddyfile caps the gateway (and its lb_retries) at the same value." doczh:"实例可申请的最多重试次数（resilience.retries）；随附的 Caddyfile 以同一值为网关（及其 lb_retries）的上限。"`
	MaxBody         int64         `env:"REGISTRY_MAX_BODY" envDefault:"1048576" doc:"Largest request body accepted, in bytes." doczh:"允许的最大请求体（字节）。"`
	EventsKept      int           `env:"REGISTRY_EVENTS_KEPT" envDefault:"10000" doc:"Change-feed events kept for watchers that reconnect; older ones get a snapshot." doczh:"为重连的订阅者保留的变更事件数；更早的订阅者会收到全量快照。"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" doc:"How long a stopping process lets in-flight requests finish." doczh:"进程停止时等待进行中请求完成的时长。"`
	envconfig.Storage
	envconfig.Log
}

// Validate checks values caarlos0/env cannot.
func (c *Config) Validate() error {
	p := envconfig.Prefix
	if err := envconfig.Listen("REGISTRY_LISTEN", c.Listen); err != nil {
		return err
	}
	if err := envconfig.Positive(map[string]time.Duration{
		"REGISTRY_INACTIVE_AFTER": c.InactiveAfter, "REGISTRY_SWEEP_INTERVAL": c.SweepInterval,
		"REGISTRY_HEALTH_INTERVAL": c.HealthInterval, "REGISTRY_HEALTH_TIMEOUT": c.HealthTimeout,
		"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "REGISTRY_KEY_CACHE_TTL": c.KeyCacheTTL,
		"REGISTRY_MAX_TIMEOUT": c.MaxTimeout,
	}); err != nil {
		return err
	}
	if c.MaxTimeout < registry.MinTimeout {
		return fmt.Errorf("%sREGISTRY_MAX_TIMEOUT: must be at least %s", p, registry.MinTimeout)
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 {
		return fmt.Errorf("%sREGISTRY_MAX_RETRIES: must be between 0 and 10", p)
	}
	if c.HealthFailAfter < 1 {
		return fmt.Errorf("%sREGISTRY_HEALTH_FAIL_AFTER: must be at least 1", p)
	}
	if c.MaxBody < 1024 {
		return fmt.Errorf("%sREGISTRY_MAX_BODY: must be at least 1024", p)
	}
	if c.EventsKept < 100 {
		return fmt.Errorf("%sREGISTRY_EVENTS_KEPT: must be at least 100", p)
	}
	if c.Token != "" && len(c.Token) < 16 {
		return fmt.Errorf("%sREGISTRY_TOKEN: must be at least 16 characters", p)
	}
	if _, err := c.allowed(); err != nil {
		return err
	}
	if _, err := c.protected(); err != nil {
		return err
	}
	if err := c.Storage.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// allowed parses AllowedCIDRs.
func (c *Config) allowed() ([]netip.Prefix, error) {
	return envconfig.CIDRs("REGISTRY_ALLOWED_CIDRS", c.AllowedCIDRs)
}

// protected returns the platform's own listeners, as the variables of
// every process describe them: the registry's listen address and URL,
// core's, the gateway's site (every interface: Caddy binds the port and
// matches the host) and admin API, and REGISTRY_PROTECTED_ADDRS.
func (c *Config) protected() ([]httpapi.Listener, error) {
	p := envconfig.Prefix
	var out []httpapi.Listener
	add := func(name, v, hostPort string) error {
		if hostPort == "" {
			return nil
		}
		host, port, err := net.SplitHostPort(hostPort)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s%s: %q is not host:port", p, v, hostPort)
		}
		if host == "*" || host == "0.0.0.0" || host == "::" {
			host = ""
		}
		out = append(out, httpapi.Listener{Name: name, Host: strings.TrimSuffix(host, "."), Port: n})
		return nil
	}
	addURL := func(name, v, raw string) error {
		if raw == "" {
			return nil
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%s%s: %q is not a URL such as http://127.0.0.1:8082", p, v, raw)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443"}[u.Scheme]
			if port == "" {
				port = "80"
			}
		}
		return add(name, v, net.JoinHostPort(u.Hostname(), port))
	}
	if err := add("the registry", "REGISTRY_LISTEN", c.Listen); err != nil {
		return nil, err
	}
	if err := addURL("the registry", "REGISTRY_URL", c.RegistryURL); err != nil {
		return nil, err
	}
	if err := add("the core service", "CORE_LISTEN", c.CoreListen); err != nil {
		return nil, err
	}
	if err := addURL("the core service", "CORE_URL", c.CoreURL); err != nil {
		return nil, err
	}
	if a := strings.TrimSpace(c.GatewayAdmin); a != "" && a != "off" && !strings.HasPrefix(a, "unix/") {
		for _, network := range []string{"tcp/", "tcp4/", "tcp6/"} { // Caddy's network prefixes
			a = strings.TrimPrefix(a, network)
		}
		if err := add("the gateway's admin API", "GATEWAY_ADMIN", a); err != nil {
			return nil, err
		}
	}
	if c.GatewayListen != "" {
		if err := add("the gateway", "GATEWAY_LISTEN", c.GatewayListen); err != nil {
			return nil, err
		}
	}
	for _, site := range strings.FieldsFunc(c.GatewaySite, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		scheme, rest, ok := strings.Cut(site, "://")
		if !ok {
			scheme, rest = "", site
		}
		rest, _, _ = strings.Cut(rest, "/")
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			host, port = rest, ""
		}
		var ports []string
		switch {
		case port != "":
			ports = []string{port}
		case scheme == "http":
			ports = []string{"80"}
		case scheme == "https":
			ports = []string{"443"}
		default: // automatic HTTPS, and its redirects on port 80
			ports = []string{"443", "80"}
		}
		for _, port := range ports {
			// Caddy binds every interface and matches the host.
			if err := add("the gateway", "GATEWAY_SITE", net.JoinHostPort("", port)); err != nil {
				return nil, err
			}
			if host != "" && !strings.Contains(host, "*") {
				if err := add("the gateway", "GATEWAY_SITE", net.JoinHostPort(host, port)); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, a := range c.ProtectedAddrs {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		var err error
		if strings.Contains(a, "://") {
			err = addURL("a protected address", "REGISTRY_PROTECTED_ADDRS", a)
		} else {
			err = add("a protected address", "REGISTRY_PROTECTED_ADDRS", a)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
