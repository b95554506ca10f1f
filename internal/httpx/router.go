package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/plugboard/plugboard/internal/fault"
)

// methods are the methods Allowed asks the routing tree about.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// Allowed returns the methods routes has a route for at req's path, as
// chi's own 405 handler computes them: the routing tree is asked once per
// method, through mounted subrouters.
func Allowed(routes chi.Routes, req *http.Request) []string {
	path := req.URL.RawPath
	if path == "" {
		path = req.URL.Path
	}
	var allow []string
	for _, m := range methods {
		if match(routes, m, path) {
			allow = append(allow, m)
		}
	}
	return allow
}

// match is routes.Match, except at a mount point itself ("/api/users" or
// "/api/users/" of r.Route("/api/users", ...)): there chi's tree holds a
// stub that matches every method, and the request is served by the
// subrouter's "/" route, so that is what is asked.
func match(routes chi.Routes, method, path string) bool {
	for _, rt := range routes.Routes() {
		if rt.SubRoutes == nil || !strings.HasSuffix(rt.Pattern, "/*") {
			continue
		}
		prefix := strings.TrimSuffix(rt.Pattern, "/*")
		if !strings.Contains(prefix, "{") && (path == prefix || path == prefix+"/") {
			return match(rt.SubRoutes, method, "/")
		}
	}
	return routes.Match(chi.NewRouteContext(), method, path)
}

// Check is a named readiness check, such as a database ping.
type Check struct {
	Name string // what is down, for the problem detail: "The database"
	Ping func(ctx context.Context) error
	// Degraded marks a dependency the service keeps serving without (Redis:
	// it falls back to per-replica state): its failure is reported by
	// /readyz as "degraded" with 200, so that a load balancer gating on
	// readiness does not drop every replica for a blip of it.
	Degraded bool
}

// readiness is the body of a 200 from /readyz.
type readiness struct {
	Status   string   `json:"status"`             // ready or degraded
	Degraded []string `json:"degraded,omitempty"` // the degraded dependencies that are down
}

// NewRouter returns a chi router with Middleware installed, problem+json
// answers for unknown paths and methods, GET /healthz (liveness: the process
// answers) and GET /readyz (readiness: every check that is not Degraded passes within
// 2 s; a failed Degraded one makes the answer 200 "degraded").
func NewRouter(logger *slog.Logger, checks ...Check) chi.Router {
	r := chi.NewRouter()
	r.Use(Middleware(logger))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, nil, fault.Errorf(fault.NotFound, "No such endpoint: %s %s.", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// RFC 9110 §15.5.6: a 405 lists the methods the resource has.
		w.Header().Set("Allow", strings.Join(Allowed(r, req), ", "))
		WriteProblem(w, Problem{Type: "/problems/method_not_allowed", Title: "Method Not Allowed",
			Status: http.StatusMethodNotAllowed, Detail: fmt.Sprintf("%s is not allowed on %s.", req.Method, req.URL.Path), Instance: Instance(req)})
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var degraded []string
		for _, c := range checks {
			err := c.Ping(ctx)
			switch {
			case err == nil:
			case c.Degraded:
				degraded = append(degraded, c.Name)
				logger.WarnContext(ctx, "degraded", slog.String("check", c.Name), slog.Any("error", err))
			default:
				WriteError(w, r, nil, fault.Wrap(err, fault.Unavailable, c.Name+" is not reachable."))
				logger.WarnContext(ctx, "not ready", slog.String("check", c.Name), slog.Any("error", err))
				return
			}
		}
		if len(degraded) > 0 {
			WriteJSON(w, http.StatusOK, readiness{Status: "degraded", Degraded: degraded})
			return
		}
		WriteJSON(w, http.StatusOK, readiness{Status: "ready"})
	})
	return r
}
