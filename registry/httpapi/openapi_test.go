package httpapi

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/internal/openapitest"
)

// mountedElsewhere are documented paths that the registry's router (not
// Routes) mounts.
var mountedElsewhere = map[string]bool{"/healthz": true, "/readyz": true}

func TestOpenAPIVersionAndInfo(t *testing.T) {
	doc := openapitest.Load(t, openAPI)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "Plugboard registry API" || info["version"] != "1.0.0" {
		t.Errorf("info = %v", info)
	}
	schemes, _ := openapitest.Deref(t, doc, doc["components"])["securitySchemes"].(map[string]any)
	if tok, _ := schemes["registryToken"].(map[string]any); tok["type"] != "http" || tok["scheme"] != "bearer" {
		t.Errorf("securitySchemes.registryToken = %v, want http bearer", tok)
	}
	schemas, _ := openapitest.Deref(t, doc, doc["components"])["schemas"].(map[string]any)
	for _, name := range []string{"Instance", "Endpoint", "RegisterRequest", "EndpointRequest", "Event", "Snapshot", "Problem"} {
		if _, ok := schemas[name]; !ok {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	openapitest.CheckRefs(t, openapitest.Load(t, openAPI))
}

// TestOpenAPIMatchesRoutes keeps the document and the router in step: every
// route Routes mounts is documented with its method, every documented
// registry operation is routed, operations behind the token say so, and
// every path template's parameters are declared.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := openapitest.Load(t, openAPI)
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("openapi.json has no paths")
	}

	s := New(nil, nil, nil, slog.New(slog.DiscardHandler), Options{})
	r := chi.NewRouter()
	s.Routes(r)
	// "get /api/registry/services" → whether it is behind a credential check.
	protected := openapitest.Routes(t, r, s.requireRead, s.requireWrite, s.requireDeregister)

	for key := range protected {
		method, route, _ := strings.Cut(key, " ")
		item, ok := paths[route].(map[string]any)
		if !ok {
			t.Errorf("route %s %s is not documented: paths has no %q", strings.ToUpper(method), route, route)
			continue
		}
		if _, ok := item[method]; !ok {
			t.Errorf("route %s %s is not documented: paths[%q] has no %q", strings.ToUpper(method), route, route, method)
		}
	}

	for route, v := range paths {
		item := openapitest.Deref(t, doc, v)
		for _, method := range openapitest.Methods {
			opv, ok := item[method]
			if !ok {
				continue
			}
			op := openapitest.Deref(t, doc, opv)
			key := method + " " + route
			_, routed := protected[key]
			if !mountedElsewhere[route] && !routed {
				t.Errorf("%s %s is documented but not routed", strings.ToUpper(method), route)
			}

			sec, hasSec := op["security"].([]any) // [] marks a public operation
			if !hasSec {
				t.Errorf("%s %s declares no security (public operations say security: [])", strings.ToUpper(method), route)
			}
			hasToken := false
			for _, req := range sec {
				if m, _ := req.(map[string]any); m != nil {
					_, ok := m["registryToken"]
					hasToken = hasToken || ok
				}
			}
			if routed && protected[key] != hasToken {
				t.Errorf("%s %s: requires the token = %v, but documented security = %v", strings.ToUpper(method), route, protected[key], op["security"])
			}
			if len(sec) > 0 && !hasToken {
				t.Errorf("%s %s: security %v does not name registryToken", strings.ToUpper(method), route, sec)
			}

			openapitest.CheckPathParams(t, doc, strings.ToUpper(method)+" "+route, route, item, op)

			if _, ok := op["responses"].(map[string]any); !ok {
				t.Errorf("%s %s has no responses", strings.ToUpper(method), route)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	r := chi.NewRouter()
	New(nil, nil, nil, slog.New(slog.DiscardHandler), Options{}).Routes(r)
	openapitest.CheckServed(t, r, "/api/registry/openapi.json", openAPI)
}
