package httpapi

import "github.com/go-chi/chi/v5"

// Routes mounts the whole registry API on r: this is the one place that
// lists it (openapi.json documents each route; a test checks they agree).
func (s *Server) Routes(r chi.Router) {
	r.Route("/api/registry", func(r chi.Router) {
		r.Get("/openapi.json", s.handleOpenAPI)
		r.Group(func(r chi.Router) {
			r.Use(s.requireRead)
			r.Get("/services", s.handleList)
			r.Get("/services/{service_id}", s.handleGet)
			r.Get("/services/{service_id}/events", s.handleInstanceEvents)
			r.Get("/catalog", s.handleCatalog)
			r.Get("/watch", s.handleWatch)
		})
		r.Group(func(r chi.Router) {
			r.Use(s.requireWrite)
			r.Post("/register", s.handleRegister)
			r.Post("/heartbeat", s.handleHeartbeat)
		})
		r.With(s.requireDeregister).Post("/deregister/{service_id}", s.handleDeregister)
	})
}
