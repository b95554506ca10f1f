package cored

import (
	"fmt"
	"net"
	"time"

	"github.com/plugboard/plugboard/core/platform/envconfig"
)

// Config is the core process's configuration, read from PLUGBOARD_*
// variables.
type Config struct {
	Listen          string        `env:"CORE_LISTEN" envDefault:"127.0.0.1:8082" doc:"Address the core service listens on (host:port)." doczh:"核心服务的监听地址（host:port）。"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" doc:"How long a stopping process lets in-flight requests finish." doczh:"进程停止时等待进行中请求完成的时长。"`
	envconfig.Storage
	envconfig.Log
}

// Validate checks values caarlos0/env cannot.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%sCORE_LISTEN: %q is not host:port: %w", envconfig.Prefix, c.Listen, err)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("%sSHUTDOWN_TIMEOUT: must be positive", envconfig.Prefix)
	}
	if err := c.Storage.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}
