package dynamicupstreams_test

import (
	"testing"
)

// TestUnreachableServiceIs503 performs issue 12's finding 8: with core down
// (the stack's core URL has no listener), core's routes answered 502 "The
// service instance did not answer properly."; a service the gateway cannot
// connect to is unavailable, as plugin routes without a live instance are:
// 503 with Retry-After, so that clients and SDKs retry.
func TestUnreachableServiceIs503(t *testing.T) {
	s := startStack(t)
	for _, path := range []string{"/api/auth/me", "/api/users", "/api/config/x"} {
		a := s.get(path)
		if a.status != 503 || a.header.Get("Retry-After") == "" {
			t.Errorf("GET %s with core down: %d Retry-After=%q %s; want 503 with Retry-After", path, a.status, a.header.Get("Retry-After"), a.body)
			continue
		}
		if typ, _ := a.problem(t); typ != "/problems/unavailable" {
			t.Errorf("GET %s: problem type %q", path, typ)
		}
	}
}
