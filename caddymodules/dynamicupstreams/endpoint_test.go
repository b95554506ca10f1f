package dynamicupstreams

import (
	"testing"

	"github.com/plugboard/plugboard/registry"
)

func TestMatchEndpoint(t *testing.T) {
	eps := []registry.Endpoint{
		{Method: "GET", Path: "/items"},
		{Method: "GET", Path: "/items/{id}"},
		{Method: "GET", Path: "/items/new"},
		{Method: "DELETE", Path: "/items/{id}"},
		{Method: "GET", Path: "/files/{path...}"},
		{Method: "POST", Path: "/"},
	}
	tests := []struct {
		method, path string
		want         int // index in eps, -1 for none
	}{
		{"GET", "/items", 0},
		{"GET", "/items/", 0},
		{"GET", "/items/42", 1},
		{"HEAD", "/items/42", 1},
		{"GET", "/items/new", 2},
		{"DELETE", "/items/42", 3},
		{"DELETE", "/items", -1},
		{"PATCH", "/other", -1},
		{"PUT", "/items/nope/deeper", -1},
		{"GET", "/items/42/parts", -1},
		{"GET", "/files/a/b/c", 4},
		{"GET", "/files", 4},
		{"POST", "/", 5},
		{"GET", "/items/a%20b", 1},
		{"GET", "/other", -1},
	}
	for _, tc := range tests {
		got := MatchEndpoint(eps, tc.method, tc.path)
		switch {
		case tc.want < 0 && got != nil:
			t.Errorf("%s %s matched %+v, want none", tc.method, tc.path, *got)
		case tc.want >= 0 && got != &eps[tc.want]:
			t.Errorf("%s %s matched %+v, want %+v", tc.method, tc.path, got, eps[tc.want])
		}
	}
}

func TestUndeclaredMethodGetsThePathsStrictestPolicy(t *testing.T) {
	eps := []registry.Endpoint{
		{Method: "GET", Path: "/admin", RequiredRoles: []string{"user", "tenant_admin"}},
		{Method: "POST", Path: "/admin", RequiredRoles: []string{"tenant_admin"}},
		{Method: "GET", Path: "/open", IsPublic: true},
	}
	got := MatchEndpoint(eps, "PUT", "/admin")
	if got == nil || got.IsPublic || len(got.RequiredRoles) != 1 || got.RequiredRoles[0] != "tenant_admin" {
		t.Fatalf("PUT /admin = %+v, want tenant_admin required", got)
	}
	if got := MatchEndpoint(eps, "DELETE", "/open"); got != nil {
		t.Fatalf("DELETE /open = %+v, want no endpoint (any identity), never public", got)
	}
}
