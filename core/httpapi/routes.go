package httpapi

import "github.com/go-chi/chi/v5"

// Routes mounts core's whole API on r: every route and the middleware in
// front of it, in one place. Each handler is in the handle_*.go file of
// its resource (the configuration watch in config_watch.go); /healthz and
// /readyz come from the router cored.Handler builds (httpx.NewRouter).
//
// Configuration keys may contain "/", so an entry's path is
// /api/config/{service}/ and then the whole key. On GET, a path ending in
// /history or /diff asks for the history or a diff of the key before it;
// on POST, /rollback rolls it back. A key whose last segment is "history"
// or "diff" is read with its slash encoded (a%2Fhistory).
func (s *Server) Routes(r chi.Router) {
	r.Route("/api/auth", func(r chi.Router) {
		// Public: the credential exchanges, the gateway's keys and checks,
		// and this API's description.
		r.Post("/login", s.handleLogin)
		r.Post("/refresh", s.handleRefresh)
		r.Post("/logout", s.handleLogout)
		r.Get("/jwks.json", s.handleJWKS)
		r.Post("/verify", s.handleVerify)
		// The change feed authenticates by itself: the feed token or a
		// super_admin's credential (changes.go).
		r.Get("/changes", s.handleChanges)
		r.Get("/changes/config", s.handleReservedConfig)
		r.Get("/openapi.json", s.handleOpenAPI)
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Get("/me", s.handleMe)
			r.Post("/password", s.handlePassword)
		})
	})
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Route("/api/users", func(r chi.Router) {
			r.Get("/", s.handleListUsers)
			r.Post("/", s.handleCreateUser)
			r.Get("/{id}", s.handleGetUser)
			r.Patch("/{id}", s.handleUpdateUser)
			r.Delete("/{id}", s.handleDeleteUser)
		})
		r.Route("/api/tenants", func(r chi.Router) {
			r.Get("/", s.handleListTenants)
			r.Post("/", s.handleCreateTenant)
			r.Get("/{id}", s.handleGetTenant)
			r.Patch("/{id}", s.handleUpdateTenant)
			r.Delete("/{id}", s.handleDeleteTenant)
			r.Put("/{id}/services/{name}", s.handleEnableService)
			r.Delete("/{id}/services/{name}", s.handleDisableService)
		})
		r.Route("/api/api-keys", func(r chi.Router) {
			r.Get("/", s.handleListKeys)
			r.Post("/", s.handleCreateKey)
			r.Get("/{id}", s.handleGetKey)
			r.Delete("/{id}", s.handleRevokeKey)
		})
		r.Get("/api/audit", s.handleListAudit)
		r.Route("/api/config", func(r chi.Router) {
			r.Get("/", s.handleListConfig)
			r.Get("/watch", s.handleWatchConfig)
			r.Get("/{service}/*", s.handleReadConfig)
			r.Put("/{service}/*", s.handlePutConfig)
			r.Delete("/{service}/*", s.handleDeleteConfig)
			r.Post("/{service}/*", s.handleRollbackConfig)
		})
	})
}
