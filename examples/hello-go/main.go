// Command hello-go is the smallest Plugboard plugin in Go: a public
// endpoint, one for any signed-in caller, and one for tenant admins.
//
//	PLUGBOARD_SERVICE_PORT=9001 PLUGBOARD_REGISTRY_TOKEN=$(cat data/registry.token) \
//	PLUGBOARD_SERVICE_KEY=$(plugboard-gateway service-key hello) go run ./examples/hello-go
//	curl localhost:8080/api/hello/hello
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/plugboard/plugboard/sdk"
)

func main() {
	cfg, err := sdk.LoadConfig()
	if err != nil {
		log.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name, cfg.Version = "hello", "1.0.0"
	}
	cfg.HealthCheckURL = "/health"
	cfg.Endpoints = []sdk.Endpoint{
		{Path: "/hello", Method: "GET", IsPublic: true, Description: "greets anyone"},
		{Path: "/health", Method: "GET", IsPublic: true},
		{Path: "/whoami", Method: "GET", Description: "the caller, as the gateway vouched for it"},
		{Path: "/admin", Method: "GET", RequiredRoles: []string{"tenant_admin"}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %v\n", r.Context().Value(http.LocalAddrContextKey)) // which instance answered
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /whoami", sdk.RequireRole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := sdk.IdentityFrom(r.Context())
		fmt.Fprintf(w, "user %s of tenant %s, roles %v\n", id.UserID, id.TenantID, id.Roles)
	})))
	mux.Handle("GET /admin", sdk.RequireRole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "welcome, admin")
	}), "tenant_admin"))
	if err := sdk.Run(context.Background(), cfg, sdk.Middleware(cfg.Verifier(), mux)); err != nil {
		log.Fatal(err)
	}
}
