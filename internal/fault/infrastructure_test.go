package fault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/plugboard/plugboard/internal/fault"
)

// An outage of a dependency is a 503 (unavailable), never a 500 or a verdict
// on the request: issue 12, finding 7.
func TestInfrastructureFailuresAreUnavailable(t *testing.T) {
	_, dialErr := net.Dial("tcp", "127.0.0.1:1") // nothing listens on port 1
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"refused dial", fmt.Errorf("get user: %w", dialErr), fault.Unavailable},
		{"reset", fmt.Errorf("query: %w", syscall.ECONNRESET), fault.Unavailable},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), fault.Unavailable},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), fault.Unavailable},
		{"fault error wins", fault.Wrap(dialErr, fault.NotFound, "x"), fault.NotFound},
		{"plain bug", errors.New("nil map"), fault.Internal},
		{"client gone", context.Canceled, fault.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.Code(tc.err); got != tc.want {
				t.Fatalf("Code(%v) = %q, want %q", tc.err, got, tc.want)
			}
			if tc.want == fault.Unavailable && fault.Message(tc.err) == "Internal error." {
				t.Fatalf("Message of an outage says internal error")
			}
		})
	}
}
