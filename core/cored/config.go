package cored

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/plugboard/plugboard/internal/envconfig"
)

// Config is the core process's configuration, read from PLUGBOARD_*
// variables.
type Config struct {
	Listen          string        `env:"CORE_LISTEN" envDefault:"127.0.0.1:8082" doc:"Address the core service listens on (host:port)." doczh:"核心服务的监听地址（host:port）。"`
	Issuer          string        `env:"CORE_ISSUER" envDefault:"plugboard" doc:"The iss and aud of access tokens; the gateway's jwt_auth must expect the same." doczh:"访问令牌的 iss 与 aud；网关的 jwt_auth 须使用相同的值。"`
	AccessTTL       time.Duration `env:"CORE_ACCESS_TTL" envDefault:"30m" doc:"Lifetime of access tokens." doczh:"访问令牌有效期。"`
	RefreshTTL      time.Duration `env:"CORE_REFRESH_TTL" envDefault:"168h" doc:"Lifetime of refresh tokens (each refresh rotates them)." doczh:"刷新令牌有效期（每次刷新都会轮换）。"`
	KeyLifetime     time.Duration `env:"CORE_KEY_LIFETIME" envDefault:"720h" doc:"How long one signing key signs before the next takes over (old keys stay in the JWKS until their tokens expire)." doczh:"每把签名密钥的使用期；到期后换用新密钥（旧密钥保留在 JWKS 中直到其令牌过期）。"`
	MasterKey       string        `env:"CORE_MASTER_KEY" doc:"Secret that encrypts the token signing keys at rest (AES-256-GCM). Unset: generated into core.master.key in the data directory (0600) on first start; with PostgreSQL every replica needs the same key." doczh:"用于静态加密令牌签名密钥的主密钥（AES-256-GCM）。未设置时首次启动会生成到数据目录下的 core.master.key（0600）；使用 PostgreSQL 时所有副本须使用同一密钥。"`
	FeedToken       string        `env:"CORE_FEED_TOKEN" doc:"Bearer token that follows core's change feed (GET /api/auth/changes), as each gateway does; a super_admin's credential also may. Unset: generated once and kept in DATA_DIR/core-feed.token, where a gateway on the same machine reads it." doczh:"订阅核心变更流（GET /api/auth/changes）所用的 Bearer 令牌，网关即以此订阅；super_admin 的凭证也可订阅。未设置时自动生成一次并保存在 DATA_DIR/core-feed.token，同机网关从该文件读取。"`
	DefaultTenant   string        `env:"DEFAULT_TENANT" envDefault:"default" doc:"The tenant created on first start, and the one a login means when it names none." doczh:"首次启动时创建的租户；登录未指定租户时默认使用它。"`
	AdminUser       string        `env:"ADMIN_USER" envDefault:"admin" doc:"The super admin created on first start (empty database)." doczh:"首次启动（空数据库）时创建的超级管理员用户名。"`
	AdminPassword   string        `env:"ADMIN_PASSWORD" doc:"That super admin's password. Unset: generated and printed once." doczh:"该超级管理员的密码。未设置时自动生成并只打印一次。"`
	TrustedProxies  []string      `env:"CORE_TRUSTED_PROXIES" envSeparator:"," envDefault:"127.0.0.0/8,::1/128" doc:"Networks of the proxies (the gateway) whose X-Forwarded-For names the client, for login throttling and the audit log." doczh:"可信代理（网关）所在网段；其 X-Forwarded-For 用于识别客户端地址（登录限流与审计日志）。"`
	BcryptCost      int           `env:"CORE_BCRYPT_COST" envDefault:"12" doc:"bcrypt cost of password hashes (10-31; tests use 4)." doczh:"密码哈希的 bcrypt 成本（10-31；测试使用 4）。"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" doc:"How long a stopping process lets in-flight requests finish." doczh:"进程停止时等待进行中请求完成的时长。"`
	envconfig.Storage
	envconfig.Log
}

// Validate checks values caarlos0/env cannot.
func (c *Config) Validate() error {
	p := envconfig.Prefix
	if err := envconfig.Listen("CORE_LISTEN", c.Listen); err != nil {
		return err
	}
	if err := envconfig.Positive(map[string]time.Duration{"CORE_ACCESS_TTL": c.AccessTTL, "CORE_REFRESH_TTL": c.RefreshTTL,
		"CORE_KEY_LIFETIME": c.KeyLifetime, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout}); err != nil {
		return err
	}
	if c.KeyLifetime < 2*c.AccessTTL {
		return fmt.Errorf("%sCORE_KEY_LIFETIME: must be at least twice PLUGBOARD_CORE_ACCESS_TTL", p)
	}
	if _, err := c.trusted(); err != nil {
		return err
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		return fmt.Errorf("%sCORE_BCRYPT_COST: must be between 4 and 31", p)
	}
	if c.FeedToken != "" && len(c.FeedToken) < 16 {
		return fmt.Errorf("%sCORE_FEED_TOKEN: must be at least 16 characters", p)
	}
	if c.MasterKey != "" && len(c.MasterKey) < 16 {
		return fmt.Errorf("%sCORE_MASTER_KEY: must be at least 16 characters", p)
	}
	if c.AdminPassword != "" && (len(c.AdminPassword) < 8 || len(c.AdminPassword) > 72) {
		return fmt.Errorf("%sADMIN_PASSWORD: must be 8 to 72 characters", p)
	}
	if c.AdminUser == "" || c.DefaultTenant == "" {
		return fmt.Errorf("%sADMIN_USER and %sDEFAULT_TENANT must not be empty", p, p)
	}
	if err := c.Storage.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// trusted parses TrustedProxies.
func (c *Config) trusted() ([]netip.Prefix, error) {
	return envconfig.CIDRs("CORE_TRUSTED_PROXIES", c.TrustedProxies)
}
