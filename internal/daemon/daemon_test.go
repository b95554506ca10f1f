package daemon_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/daemon"
	"github.com/plugboard/plugboard/internal/envconfig"
	"github.com/plugboard/plugboard/internal/testenv"
)

type config struct {
	Listen string        `env:"T_LISTEN" envDefault:"127.0.0.1:0" doc:"where" doczh:"where"`
	Grace  time.Duration `env:"T_GRACE" envDefault:"1s" doc:"grace" doczh:"grace"`
	envconfig.Log
}

type service struct {
	closed   chan struct{}
	shutdown chan struct{}
}

func (s *service) Handler() http.Handler { return http.NotFoundHandler() }
func (s *service) Close() error          { close(s.closed); return nil }
func (s *service) StartShutdown()        { close(s.shutdown) }

func spec(svc *service) daemon.Spec[config] {
	return daemon.Spec[config]{
		Name: "plugboard-test", Summary: "a test service.",
		Listen: func(c config) string { return c.Listen },
		Log:    func(c config) envconfig.Log { return c.Log },
		Grace:  func(c config) time.Duration { return c.Grace },
		New: func(context.Context, config, *slog.Logger) (daemon.Service, error) {
			return svc, nil
		},
	}
}

func TestHelpListsVariables(t *testing.T) {
	var out bytes.Buffer
	if err := daemon.Main(context.Background(), spec(nil), []string{"--help"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plugboard-test", "PLUGBOARD_T_LISTEN", "PLUGBOARD_LOG_FORMAT", "default 1s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRefusesArgumentsAndBadConfig(t *testing.T) {
	if err := daemon.Main(context.Background(), spec(nil), []string{"serve"}, nil, io.Discard, io.Discard); err == nil {
		t.Error("an argument was accepted")
	}
	err := daemon.Main(context.Background(), spec(nil), nil, map[string]string{"PLUGBOARD_T_GRACE": "forever"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PLUGBOARD_T_GRACE") {
		t.Errorf("bad duration: err = %v, want one naming PLUGBOARD_T_GRACE", err)
	}
}

func TestServesUntilCancelledThenCloses(t *testing.T) {
	svc := &service{closed: make(chan struct{}), shutdown: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addr := testenv.FreeAddr(t)
	go func() {
		done <- daemon.Main(ctx, spec(svc), nil, map[string]string{"PLUGBOARD_T_LISTEN": addr}, io.Discard, io.Discard)
	}()
	testenv.Eventually(t, 5*time.Second, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, "Main never listened on %s", addr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
	for name, ch := range map[string]chan struct{}{"StartShutdown": svc.shutdown, "Close": svc.closed} {
		select {
		case <-ch:
		case <-time.After(time.Second): // shutdown hooks run in their own goroutine
			t.Errorf("%s was not called", name)
		}
	}
}
