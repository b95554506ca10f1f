package problem

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func TestUpstreamWentAway(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"dial refused", reverseproxy.NewDialError(errors.New("connection refused")), true},
		{"reset mid-request", fmt.Errorf("round trip: %w", reset), true},
		{"closed before headers", fmt.Errorf("round trip: %w", io.EOF), true},
		{"truncated", fmt.Errorf("round trip: %w", io.ErrUnexpectedEOF), true},
		{"malformed answer", errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "garbage"`), false},
	} {
		if got := upstreamWentAway(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
