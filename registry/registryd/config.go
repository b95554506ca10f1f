package registryd

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/plugboard/plugboard/core/platform/envconfig"
)

// Config is the registry process's configuration, read from PLUGBOARD_*
// variables.
type Config struct {
	Listen          string        `env:"REGISTRY_LISTEN" envDefault:"127.0.0.1:8081" doc:"Address the registry listens on (host:port)." doczh:"注册中心的监听地址（host:port）。"`
	Token           string        `env:"REGISTRY_TOKEN" doc:"Bearer token that register, heartbeat and deregister require. Unset: generated once and kept in DATA_DIR/registry.token." doczh:"注册、心跳、注销所需的 Bearer 令牌。未设置时自动生成一次并保存在 DATA_DIR/registry.token。"`
	CoreURL         string        `env:"CORE_URL" envDefault:"http://127.0.0.1:8082" doc:"Where the gateway, the registry and the launcher reach the core service (API keys are checked there)." doczh:"网关、注册中心和启动器访问核心服务的地址（API 密钥在此校验）。"`
	KeyCacheTTL     time.Duration `env:"REGISTRY_KEY_CACHE_TTL" envDefault:"30s" doc:"How long the registry trusts core's answer about an API key (revocation takes effect within it)." doczh:"注册中心缓存核心服务 API 密钥校验结果的时长（吊销在此时间内生效）。"`
	InactiveAfter   time.Duration `env:"REGISTRY_INACTIVE_AFTER" envDefault:"5m" doc:"An instance without a heartbeat this long becomes inactive and leaves the list." doczh:"实例超过该时长没有心跳即变为不活跃，并从服务列表中移除。"`
	SweepInterval   time.Duration `env:"REGISTRY_SWEEP_INTERVAL" envDefault:"5s" doc:"How often the lease-holding replica flushes heartbeats and expires silent instances." doczh:"持有租约的副本多久刷新一次心跳并清理无心跳实例。"`
	HealthInterval  time.Duration `env:"REGISTRY_HEALTH_INTERVAL" envDefault:"5s" doc:"How often each instance's health_check_url is probed." doczh:"探测每个实例 health_check_url 的间隔。"`
	HealthTimeout   time.Duration `env:"REGISTRY_HEALTH_TIMEOUT" envDefault:"2s" doc:"Timeout of one health probe." doczh:"单次健康探测的超时时间。"`
	HealthFailAfter int           `env:"REGISTRY_HEALTH_FAIL_AFTER" envDefault:"2" doc:"Consecutive failed probes that mark an instance unhealthy (one success marks it healthy)." doczh:"连续失败多少次探测后标记为不健康（一次成功即恢复健康）。"`
	ReservedNames   []string      `env:"REGISTRY_RESERVED_NAMES" envSeparator:"," doc:"Comma-separated service names to reserve besides registry, auth, users, tenants, api-keys, config, roles and audit." doczh:"除 registry、auth、users、tenants、api-keys、config、roles、audit 外，额外保留的服务名（逗号分隔）。"`
	AllowedCIDRs    []string      `env:"REGISTRY_ALLOWED_CIDRS" envSeparator:"," doc:"Comma-separated networks instances may register addresses in (e.g. 10.0.0.0/8). Unset: any address but link-local, unspecified and multicast." doczh:"允许实例注册的地址网段（逗号分隔，如 10.0.0.0/8）。未设置时允许除链路本地、未指定和组播外的任何地址。"`
	MaxBody         int64         `env:"REGISTRY_MAX_BODY" envDefault:"1048576" doc:"Largest request body accepted, in bytes." doczh:"允许的最大请求体（字节）。"`
	EventsKept      int           `env:"REGISTRY_EVENTS_KEPT" envDefault:"10000" doc:"Change-feed events kept for watchers that reconnect; older ones get a snapshot." doczh:"为重连的订阅者保留的变更事件数；更早的订阅者会收到全量快照。"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" doc:"How long a stopping process lets in-flight requests finish." doczh:"进程停止时等待进行中请求完成的时长。"`
	envconfig.Storage
	envconfig.Log
}

// Validate checks values caarlos0/env cannot.
func (c *Config) Validate() error {
	p := envconfig.Prefix
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%sREGISTRY_LISTEN: %q is not host:port: %w", p, c.Listen, err)
	}
	for name, d := range map[string]time.Duration{
		"REGISTRY_INACTIVE_AFTER": c.InactiveAfter, "REGISTRY_SWEEP_INTERVAL": c.SweepInterval,
		"REGISTRY_HEALTH_INTERVAL": c.HealthInterval, "REGISTRY_HEALTH_TIMEOUT": c.HealthTimeout,
		"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "REGISTRY_KEY_CACHE_TTL": c.KeyCacheTTL,
	} {
		if d <= 0 {
			return fmt.Errorf("%s%s: must be positive", p, name)
		}
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
	if err := c.Storage.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// allowed parses AllowedCIDRs.
func (c *Config) allowed() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.AllowedCIDRs {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%sREGISTRY_ALLOWED_CIDRS: %q is not a CIDR such as 10.0.0.0/8", envconfig.Prefix, s)
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}
