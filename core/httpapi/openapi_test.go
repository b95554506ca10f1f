package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/internal/openapitest"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/identity"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/fault"
)

// mountedElsewhere are documented paths that core's router
// (httpx.NewRouter), not Routes, mounts.
var mountedElsewhere = map[string]bool{"/healthz": true, "/readyz": true}

// wildcardRoutes maps the chi wildcard patterns Routes mounts to the
// OpenAPI path templates that document them, by method. OpenAPI has no
// catch-all template, so the configuration center's one handler per method
// on /api/config/{service}/* is documented as the addresses it actually
// serves: the entry itself ({key}, which may span segments), and the
// actions its handlers recognise by the key's last segment — /history and
// /diff on GET, /rollback on POST (a POST without it answers 404, so the
// bare entry path has no post).
var wildcardRoutes = map[string]map[string][]string{
	"/api/config/{service}/*": {
		"get": {
			"/api/config/{service}/{key}",
			"/api/config/{service}/{key}/history",
			"/api/config/{service}/{key}/diff",
		},
		"put":    {"/api/config/{service}/{key}"},
		"delete": {"/api/config/{service}/{key}"},
		"post":   {"/api/config/{service}/{key}/rollback"},
	},
}

// selfAuthenticated are operations outside the authenticate middleware that
// look at credentials themselves, with the security alternatives each
// documents ("" for anonymous): verify checks any credential, logout uses
// an access token when it gets one but does not need it, the change feed
// takes its feed token or a super_admin's credential.
var selfAuthenticated = map[string][]string{
	"post /api/auth/verify":        {"apiKeyAuthorization", "apiKeyHeader", "bearerAuth"},
	"post /api/auth/logout":        {"", "bearerAuth"},
	"get /api/auth/changes":        {"apiKeyAuthorization", "apiKeyHeader", "bearerAuth"},
	"get /api/auth/changes/config": {"apiKeyAuthorization", "apiKeyHeader", "bearerAuth"},
}

// probeIdentity accepts every API key (as a user's) and no access token,
// so that the tests can tell which credentials authenticate admits.
type probeIdentity struct{}

var errProbe = fault.Errorf(fault.Unauthorized, "Not in this test.")

func (probeIdentity) Login(context.Context, string, string, string, string) (*identity.Tokens, *core.User, error) {
	return nil, nil, errProbe
}
func (probeIdentity) Refresh(context.Context, string) (*identity.Tokens, error) { return nil, errProbe }
func (probeIdentity) Logout(context.Context, string, string) error              { return errProbe }
func (probeIdentity) EndUserSessions(context.Context, string) error             { return errProbe }
func (probeIdentity) Authenticate(context.Context, string) (*auth.Claims, error) {
	return nil, errProbe
}
func (probeIdentity) IdentityOf(context.Context, *auth.Claims) (*identity.Identity, error) {
	return nil, errProbe
}
func (probeIdentity) VerifyAPIKey(_ context.Context, key string) (*identity.Identity, error) {
	return &identity.Identity{UserID: "u", Username: "probe", TenantID: "t", Roles: []string{"user"}, APIKeyID: "k"}, nil
}
func (probeIdentity) JWKS() auth.JWKS { return auth.JWKS{Keys: []auth.JWK{}} }

var _ Identity = probeIdentity{}

// protectedSchemes returns the security schemes the authenticate
// middleware admits, found by trying each: bearerAuth always, and the API
// key schemes when an API key gets a request through.
func protectedSchemes(t *testing.T) []string {
	t.Helper()
	s := New(nil, probeIdentity{}, slog.New(slog.DiscardHandler), Options{})
	admits := func(header, value string) bool {
		passed := false
		h := s.authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true }))
		req := httptest.NewRequest(http.MethodGet, "/api/users", nil)
		req.Header.Set(header, value)
		h.ServeHTTP(httptest.NewRecorder(), req)
		return passed
	}
	const key = "pb_live_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	schemes := []string{"bearerAuth"}
	if admits("X-API-Key", key) {
		schemes = append(schemes, "apiKeyHeader")
	}
	if admits("Authorization", "ApiKey "+key) {
		schemes = append(schemes, "apiKeyAuthorization")
	}
	return schemes
}

func TestOpenAPIVersionAndInfo(t *testing.T) {
	t.Parallel()
	doc := openapitest.Load(t, openAPI)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "Plugboard core API" || info["version"] != "1.0.0" {
		t.Errorf("info = %v", info)
	}
	if _, ok := doc["security"]; ok {
		t.Error("the document has a top-level security: every operation states its own")
	}
	components := openapitest.Deref(t, doc, doc["components"])
	schemes, _ := components["securitySchemes"].(map[string]any)
	if b, _ := schemes["bearerAuth"].(map[string]any); b["type"] != "http" || b["scheme"] != "bearer" || b["bearerFormat"] != "JWT" {
		t.Errorf("securitySchemes.bearerAuth = %v, want http bearer JWT", b)
	}
	if k, _ := schemes["apiKeyHeader"].(map[string]any); k["type"] != "apiKey" || k["in"] != "header" || k["name"] != "X-API-Key" {
		t.Errorf("securitySchemes.apiKeyHeader = %v, want the X-API-Key header", k)
	}
	if k, _ := schemes["apiKeyAuthorization"].(map[string]any); k["type"] != "apiKey" || k["in"] != "header" || k["name"] != "Authorization" {
		t.Errorf("securitySchemes.apiKeyAuthorization = %v, want the Authorization header", k)
	}
	schemas, _ := components["schemas"].(map[string]any)
	for _, name := range []string{"Tokens", "User", "Tenant", "APIKey", "APIKeyCreated", "Identity", "AuditEntry",
		"ConfigEntry", "ConfigVersion", "ConfigDiff", "JWKS", "JWK", "Problem"} {
		if _, ok := schemas[name]; !ok {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
	created := openapitest.Deref(t, doc, schemas["APIKeyCreated"])
	if props, _ := created["properties"].(map[string]any); props["api_key"] == nil || props["key"] == nil {
		t.Errorf("APIKeyCreated has properties %v, want api_key and key", created["properties"])
	}
	problem := openapitest.Deref(t, doc, schemas["Problem"])
	props, _ := problem["properties"].(map[string]any)
	for _, f := range []string{"type", "title", "status", "detail", "instance", "errors"} {
		if props[f] == nil {
			t.Errorf("Problem has no property %q", f)
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	openapitest.CheckRefs(t, openapitest.Load(t, openAPI))
}

// TestOpenAPIMatchesRoutes keeps the document and the router in step: every
// route Routes mounts is documented with its method, every documented /api
// operation is routed, operations behind the authenticate middleware (and
// only they) require one of the credentials it admits (each alone, no
// anonymous option), and every path template's parameters are declared.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := openapitest.Load(t, openAPI)
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("openapi.json has no paths")
	}
	schemes, _ := openapitest.Deref(t, doc, doc["components"])["securitySchemes"].(map[string]any)
	admitted := protectedSchemes(t)

	s := New(nil, nil, slog.New(slog.DiscardHandler), Options{})
	r := chi.NewRouter()
	s.Routes(r)
	// "get /api/users" → whether it is behind authenticate.
	protected := openapitest.Routes(t, r, s.authenticate)

	// documentedAs maps each routed operation to the documented
	// operations ("get /api/config/{service}/{key}") that describe it;
	// routeOf maps documented operations back to the route serving them.
	documentedAs := map[string][]string{}
	routeOf := map[string]string{}
	for key := range protected {
		method, route, _ := strings.Cut(key, " ")
		if byMethod, ok := wildcardRoutes[route]; ok {
			docs, ok := byMethod[method]
			if !ok {
				t.Errorf("route %s %s is a wildcard with no documented templates: add them to wildcardRoutes", strings.ToUpper(method), route)
			}
			for _, p := range docs {
				documentedAs[key] = append(documentedAs[key], method+" "+p)
				routeOf[method+" "+p] = key
			}
			continue
		}
		if strings.Contains(route, "*") {
			t.Errorf("route %s %s is a wildcard missing from wildcardRoutes", strings.ToUpper(method), route)
			continue
		}
		documentedAs[key] = []string{key}
		routeOf[key] = key
	}
	for pattern, byMethod := range wildcardRoutes {
		for method := range byMethod {
			if _, ok := protected[method+" "+pattern]; !ok {
				t.Errorf("wildcardRoutes lists %s %s, which Routes does not mount", strings.ToUpper(method), pattern)
			}
		}
	}

	keys := make([]string, 0, len(documentedAs))
	for k := range documentedAs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		method, route, _ := strings.Cut(key, " ")
		for _, d := range documentedAs[key] {
			_, path, _ := strings.Cut(d, " ")
			item, ok := paths[path].(map[string]any)
			if !ok {
				t.Errorf("route %s %s is not documented: paths has no %q", strings.ToUpper(method), route, path)
				continue
			}
			if _, ok := openapitest.Deref(t, doc, item)[method]; !ok {
				t.Errorf("route %s %s is not documented: paths[%q] has no %q", strings.ToUpper(method), route, path, method)
			}
		}
	}

	opIDs := map[string]string{}
	for path, v := range paths {
		item := openapitest.Deref(t, doc, v)
		if !strings.HasPrefix(path, "/api/") && !mountedElsewhere[path] {
			t.Errorf("%s is neither under /api nor one of the router's own paths", path)
		}
		for _, method := range openapitest.Methods {
			opv, ok := item[method]
			if !ok {
				continue
			}
			op := openapitest.Deref(t, doc, opv)
			name := strings.ToUpper(method) + " " + path
			key := method + " " + path
			route, isRouted := routeOf[key]
			if !mountedElsewhere[path] && !isRouted {
				t.Errorf("%s is documented but not routed", name)
			}

			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", name)
			} else if other, dup := opIDs[id]; dup {
				t.Errorf("%s and %s share operationId %q", name, other, id)
			}
			opIDs[id] = name

			// Security: explicit on every operation.
			sec, hasSec := op["security"].([]any)
			if !hasSec {
				t.Errorf("%s has no security (use [] for public operations)", name)
			}
			var reqs []map[string]any
			for _, req := range sec {
				m, _ := req.(map[string]any)
				for scheme := range m {
					if schemes[scheme] == nil {
						t.Errorf("%s: security names unknown scheme %q", name, scheme)
					}
				}
				reqs = append(reqs, m)
			}
			// offered lists the alternatives, "" for the anonymous one ({})
			// and "a+b" for a requirement of several schemes at once.
			var offered []string
			for _, m := range reqs {
				var names []string
				for scheme := range m {
					names = append(names, scheme)
				}
				sort.Strings(names)
				offered = append(offered, strings.Join(names, "+"))
			}
			sort.Strings(offered)
			want := slices.Clone(admitted)
			sort.Strings(want)
			switch {
			case isRouted && protected[route] && !slices.Equal(offered, want):
				t.Errorf("%s is behind the authenticate middleware, which admits %v, but security offers %v", name, want, offered)
			case isRouted && !protected[route]:
				if self, ok := selfAuthenticated[route]; ok && !slices.Equal(offered, self) {
					t.Errorf("%s checks credentials itself and should offer %v, but security offers %v", name, self, offered)
				} else if !ok && len(offered) > 0 {
					t.Errorf("%s is public but documents security %v (use [], or list it in selfAuthenticated)", name, offered)
				}
			case !isRouted && len(offered) > 0:
				t.Errorf("%s is served by the router itself and public, but documents security %v", name, offered)
			}

			openapitest.CheckPathParams(t, doc, name, path, item, op)

			// Responses: present; errors are problems.
			responses, ok := op["responses"].(map[string]any)
			if !ok || len(responses) == 0 {
				t.Errorf("%s has no responses", name)
				continue
			}
			for status, rv := range responses {
				if status < "400" {
					continue
				}
				resp := openapitest.Deref(t, doc, rv)
				content, _ := resp["content"].(map[string]any)
				if content["application/problem+json"] == nil {
					t.Errorf("%s: response %s is not application/problem+json", name, status)
				}
			}
		}
	}
}

// TestOpenAPIWildcardTemplates checks that the configuration center's
// templates reach the handlers they document: the action suffixes are the
// ones target recognises.
func TestOpenAPIWildcardTemplates(t *testing.T) {
	t.Parallel()
	for pattern, byMethod := range wildcardRoutes {
		prefix := strings.TrimSuffix(pattern, "*")
		for method, docs := range byMethod {
			for _, d := range docs {
				rest, ok := strings.CutPrefix(d, strings.Replace(prefix, "{service}/", "{service}/{key}", 1))
				if !ok {
					t.Errorf("%s %s does not start with %s{key}", strings.ToUpper(method), d, prefix)
					continue
				}
				switch method + " " + rest {
				case "get ", "put ", "delete ", "get /history", "get /diff", "post /rollback":
				default:
					t.Errorf("%s %s: no handler serves the suffix %q on %s", strings.ToUpper(method), d, rest, strings.ToUpper(method))
				}
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	r := chi.NewRouter()
	New(nil, nil, slog.New(slog.DiscardHandler), Options{}).Routes(r)
	openapitest.CheckServed(t, r, "/api/auth/openapi.json", openAPI)
}

// TestOpenAPIPermissions keeps the documented permission codes those of
// rbac, each explained in the field's description.
func TestOpenAPIPermissions(t *testing.T) {
	doc := openapitest.Load(t, openAPI)
	schemas, _ := openapitest.Deref(t, doc, doc["components"])["schemas"].(map[string]any)
	props, _ := openapitest.Deref(t, doc, schemas["Me"])["properties"].(map[string]any)
	field := openapitest.Deref(t, doc, props["permissions"])
	items := openapitest.Deref(t, doc, field["items"])
	var enum []string
	for _, v := range items["enum"].([]any) {
		enum = append(enum, fmt.Sprint(v))
	}
	if !slices.Equal(enum, rbac.AllPermissions) {
		t.Errorf("Me.permissions enum = %v, want rbac.AllPermissions %v", enum, rbac.AllPermissions)
	}
	desc, _ := field["description"].(string)
	for _, p := range rbac.AllPermissions {
		if !strings.Contains(desc, "`"+p+"`") {
			t.Errorf("Me.permissions description does not explain %s", p)
		}
	}
}
