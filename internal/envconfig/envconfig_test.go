package envconfig_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/envconfig"
)

type testConfig struct {
	Listen  string        `env:"X_LISTEN" envDefault:"127.0.0.1:1" doc:"d" doczh:"d"`
	Timeout time.Duration `env:"X_TIMEOUT" envDefault:"5s" doc:"d" doczh:"d"`
	Count   int           `env:"X_COUNT" envDefault:"3" doc:"d" doczh:"d"`
	envconfig.Storage
	envconfig.Log
}

func (c *testConfig) Validate() error {
	if err := c.Storage.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

func TestParseDefaults(t *testing.T) {
	cfg, err := envconfig.Parse[testConfig](nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1" || cfg.Timeout != 5*time.Second || cfg.Count != 3 ||
		cfg.DataDir != "./data" || cfg.DatabaseURL != "" || cfg.RedisPrefix != "plugboard:" ||
		cfg.Level != slog.LevelInfo || cfg.Format != "json" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestParseOverrides(t *testing.T) {
	cfg, err := envconfig.Parse[testConfig](map[string]string{
		"PLUGBOARD_X_TIMEOUT":    "250ms",
		"PLUGBOARD_DATABASE_URL": "postgres://u@h/db",
		"PLUGBOARD_LOG_LEVEL":    "debug",
		"X_COUNT":                "99", // no prefix: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout != 250*time.Millisecond || cfg.DatabaseURL != "postgres://u@h/db" || cfg.Level != slog.LevelDebug || cfg.Count != 3 {
		t.Fatalf("cfg = %+v", cfg)
	}
}

func TestParseErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name, variable, value string
	}{
		{"bad duration", "PLUGBOARD_X_TIMEOUT", "soon"},
		{"bad int", "PLUGBOARD_X_COUNT", "three"},
		{"bad log level", "PLUGBOARD_LOG_LEVEL", "loud"},
		{"bad log format", "PLUGBOARD_LOG_FORMAT", "xml"},
		{"bad database URL", "PLUGBOARD_DATABASE_URL", "mysql://x"},
		{"bad redis URL", "PLUGBOARD_REDIS_URL", "http://x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := envconfig.Parse[testConfig](map[string]string{tc.variable: tc.value})
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.variable, tc.value)
			}
			if !strings.Contains(err.Error(), tc.variable) {
				t.Fatalf("error %q does not name %s", err, tc.variable)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	vars := envconfig.Describe(testConfig{})
	var names []string
	for _, v := range vars {
		names = append(names, v.Name)
	}
	want := "PLUGBOARD_X_LISTEN PLUGBOARD_X_TIMEOUT PLUGBOARD_X_COUNT PLUGBOARD_DATA_DIR PLUGBOARD_DATABASE_URL PLUGBOARD_REDIS_URL PLUGBOARD_REDIS_PREFIX PLUGBOARD_LOG_LEVEL PLUGBOARD_LOG_FORMAT"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("Describe = %s\nwant       %s", got, want)
	}
	if vars[0].Default != "127.0.0.1:1" || vars[0].Field != "Listen" {
		t.Fatalf("first var = %+v", vars[0])
	}
}
