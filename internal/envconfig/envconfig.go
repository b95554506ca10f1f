// Package envconfig reads a process's typed configuration from PLUGBOARD_*
// environment variables (with caarlos0/env), reports a bad value naming the
// variable, and describes every variable for the README's tables.
//
// A config struct tags each field with `env:"NAME"` (the PLUGBOARD_ prefix
// is added), `envDefault:"…"` where there is a default, and `doc:"…"` /
// `doczh:"…"` with one line of English / Chinese documentation. Nested
// structs share their fields' variables with other processes.
package envconfig

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Prefix starts every variable name.
const Prefix = "PLUGBOARD_"

// Validator is implemented by config structs that check their values after
// parsing. Errors should name the variable.
type Validator interface {
	Validate() error
}

// Parse fills a T from environ (a map of variable names to values; pass
// env.ToMap(os.Environ()) in main and a literal map in tests), applying
// defaults, then calls Validate if T has it.
func Parse[T any](environ map[string]string) (T, error) {
	var cfg T
	if environ == nil {
		environ = map[string]string{}
	}
	err := env.ParseWithOptions(&cfg, env.Options{Prefix: Prefix, Environment: environ})
	if err != nil {
		return cfg, explain(err, Describe(cfg))
	}
	if v, ok := any(&cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			return cfg, fmt.Errorf("configuration: %w", err)
		}
	}
	return cfg, nil
}

// explain rewrites caarlos0/env's errors, which name Go fields, so that they
// name the environment variable instead.
func explain(err error, vars []Var) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := pe.Name
			for _, v := range vars {
				if v.Field == pe.Name {
					name = v.Name
					break
				}
			}
			msgs = append(msgs, fmt.Sprintf("%s: invalid value (%v)", name, unwrapParse(pe.Err)))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("configuration: %s", strings.Join(msgs, "; "))
}

func unwrapParse(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// Var describes one environment variable of a config struct.
type Var struct {
	Name    string // with the PLUGBOARD_ prefix
	Field   string // the Go field name
	Default string
	Doc     string
	DocZH   string
}

// Describe lists the variables of the config struct cfg (a struct value or
// pointer), in field order, nested structs included.
func Describe(cfg any) []Var {
	t := reflect.TypeOf(cfg)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []Var
	describe(t, Prefix, &out)
	return out
}

func describe(t reflect.Type, prefix string, out *[]Var) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && name == "" {
			describe(f.Type, prefix+f.Tag.Get("envPrefix"), out)
			continue
		}
		if name == "" {
			continue
		}
		*out = append(*out, Var{
			Name: prefix + name, Field: f.Name, Default: f.Tag.Get("envDefault"),
			Doc: f.Tag.Get("doc"), DocZH: f.Tag.Get("doczh"),
		})
	}
}

// Fprint writes vars as --help lists them: each name, then its
// documentation and default, indented.
func Fprint(w io.Writer, vars []Var) {
	for _, v := range vars {
		def := ""
		if v.Default != "" {
			def = fmt.Sprintf(" (default %s)", v.Default)
		}
		fmt.Fprintf(w, "  %s\n      %s%s\n", v.Name, v.Doc, def)
	}
}

// Log configures logging; every process embeds it.
type Log struct {
	Level  slog.Level `env:"LOG_LEVEL" envDefault:"info" doc:"Log level: debug, info, warn or error." doczh:"日志级别：debug、info、warn 或 error。"`
	Format string     `env:"LOG_FORMAT" envDefault:"json" doc:"Log format: json (one object per line) or text." doczh:"日志格式：json（每行一个对象）或 text。"`
}

// Validate checks the format.
func (l Log) Validate() error {
	if l.Format != "json" && l.Format != "text" {
		return fmt.Errorf("%sLOG_FORMAT: %q is neither json nor text", Prefix, l.Format)
	}
	return nil
}

// Logger returns the process logger this configuration describes, writing
// to w.
func (l Log) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.Level}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Storage says where a process keeps durable and ephemeral state; every
// service process embeds it.
type Storage struct {
	DataDir     string `env:"DATA_DIR" envDefault:"./data" doc:"Directory of the embedded SQLite files (used when PLUGBOARD_DATABASE_URL is unset) and of generated secrets (registry token, core master key, gateway signing secret); kept 0700, its files 0600. The gateway reads it too: the registry token there when PLUGBOARD_REGISTRY_TOKEN is unset, and gateway.secret when PLUGBOARD_GATEWAY_SIGNING_SECRET is unset." doczh:"内置 SQLite 数据文件目录（未设置 PLUGBOARD_DATABASE_URL 时使用），以及自动生成的密钥（注册中心令牌、核心主密钥、网关签名密钥）所在目录；权限保持 0700，其中文件为 0600。网关也读取该目录：未设置 PLUGBOARD_REGISTRY_TOKEN 时读取其中的注册中心令牌，未设置 PLUGBOARD_GATEWAY_SIGNING_SECRET 时读取 gateway.secret。"`
	DatabaseURL string `env:"DATABASE_URL" doc:"PostgreSQL URL (postgres://user:pass@host:5432/db). Unset: SQLite files in the data directory." doczh:"PostgreSQL 连接串（postgres://user:pass@host:5432/db）。未设置时使用数据目录中的 SQLite 文件。"`
	RedisURL    string `env:"REDIS_URL" doc:"Redis URL (redis://host:6379/0) for state shared between replicas. Unset: kept in process (single replica)." doczh:"Redis 连接串（redis://host:6379/0），用于多副本共享的临时状态。未设置时保存在进程内（单副本）。"`
	RedisPrefix string `env:"REDIS_PREFIX" envDefault:"plugboard:" doc:"Prefix of every Redis key and channel, so deployments can share a server." doczh:"所有 Redis 键与频道的前缀，便于多个部署共用一台 Redis。"`
}

// Validate checks the URLs' schemes.
func (s Storage) Validate() error {
	if u := s.DatabaseURL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") && !strings.HasPrefix(u, "sqlite:") {
		return fmt.Errorf("%sDATABASE_URL: want postgres://… (or sqlite:PATH), got a URL of another kind", Prefix)
	}
	if u := s.RedisURL; u != "" && !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") && !strings.HasPrefix(u, "unix://") {
		return fmt.Errorf("%sREDIS_URL: want redis://… or rediss://…, got a URL of another kind", Prefix)
	}
	if s.DataDir == "" && s.DatabaseURL == "" {
		return fmt.Errorf("%sDATA_DIR: must not be empty when %sDATABASE_URL is unset", Prefix, Prefix)
	}
	return nil
}

// CIDRs parses a list variable of address ranges (10.0.0.0/8, fd00::/8),
// skipping empty items; a bad item is an error that names the variable
// (without Prefix: "CORE_TRUSTED_PROXIES").
func CIDRs(variable string, values []string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	for _, s := range values {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s%s: %q is not a CIDR such as 10.0.0.0/8", Prefix, variable, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Listen checks a listen address variable (without Prefix: "CORE_LISTEN").
func Listen(variable, value string) error {
	if _, _, err := net.SplitHostPort(value); err != nil {
		return fmt.Errorf("%s%s: %q is not host:port: %w", Prefix, variable, value, err)
	}
	return nil
}

// Positive checks duration variables (named without Prefix) that must be
// more than zero.
func Positive(durations map[string]time.Duration) error {
	for name, d := range durations {
		if d <= 0 {
			return fmt.Errorf("%s%s: must be positive", Prefix, name)
		}
	}
	return nil
}
