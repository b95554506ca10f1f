package httpapi

import (
	"bytes"
	_ "embed"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/core/auth"
	"github.com/plugboard/plugboard/core/identity"
	"github.com/plugboard/plugboard/core/rbac"
	"github.com/plugboard/plugboard/internal/credential"
	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/internal/httpx"
)

// handleLogin accepts JSON {username, password, tenant} or the OAuth2
// password form (application/x-www-form-urlencoded: username, password and
// an optional tenant), as FastAPI's OAuth2PasswordRequestForm clients send.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Tenant   string `json:"tenant"`
	}
	// A JSON body is read as JSON whatever the Content-Type says (curl -d
	// sends a form type); anything else is the OAuth2 password form.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		s.fail(w, r, fault.Errorf(fault.TooLarge, "The login body exceeds 64 KiB."))
		return
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := httpx.Decode(w, r, 64<<10, &req); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			s.fail(w, r, fault.Errorf(fault.Invalid, "The body is neither JSON nor a form."))
			return
		}
		req.Username, req.Password, req.Tenant = form.Get("username"), form.Get("password"), form.Get("tenant")
	}
	bad := map[string]string{}
	if req.Username == "" {
		bad["username"] = "is required"
	}
	if req.Password == "" {
		bad["password"] = "is required"
	}
	if len(bad) > 0 {
		s.fail(w, r, fault.InvalidFields("The login is incomplete.", bad))
		return
	}
	if req.Tenant == "" {
		req.Tenant = s.opt.DefaultTenant
	}
	tokens, user, err := s.id.Login(r.Context(), req.Tenant, req.Username, req.Password, s.clientIP(r))
	if err != nil {
		if secs, ok := identity.RetryAfter(err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		s.fail(w, r, err)
		return
	}
	e := &core.AuditEntry{TenantID: user.TenantID, ActorID: user.ID, ActorName: user.Username, Action: "auth.login",
		ObjectType: "user", ObjectID: user.ID, RemoteAddr: s.clientIP(r), RequestID: httpx.RequestID(r.Context())}
	if err := s.store.AppendAudit(r.Context(), e); err != nil {
		s.logger.Error("could not append to the audit log", "error", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, tokens)
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := httpx.Decode(w, r, 16<<10, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		s.fail(w, r, fault.InvalidFields("The refresh is incomplete.", map[string]string{"refresh_token": "is required"}))
		return
	}
	tokens, err := s.id.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, tokens)
}

// handleLogout ends the session of the refresh token in the body, or of the
// access token presented.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, 16<<10, &req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	session := ""
	if kind, token := credential.Parse(r.Header); kind == credential.Bearer {
		claims, err := s.id.Authenticate(r.Context(), token)
		switch {
		case errors.Is(err, identity.ErrSessionEnded):
			w.WriteHeader(http.StatusNoContent) // logged out already
			return
		case err == nil:
			session = claims.SessionID
		}
	}
	if req.RefreshToken == "" && session == "" {
		s.fail(w, r, fault.InvalidFields("Nothing to log out.", map[string]string{"refresh_token": "is required without an access token"}))
		return
	}
	if err := s.id.Logout(r.Context(), req.RefreshToken, session); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	c := CallerOf(r.Context())
	user, err := s.store.GetUser(r.Context(), c.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant, err := s.store.GetTenant(r.Context(), user.TenantID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"user": user, "tenant": tenant, "roles": c.Roles,
		"permissions": rbac.Permissions(c.Subject, c.Credential())})
}

func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := httpx.Decode(w, r, 16<<10, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c := CallerOf(r.Context())
	user, err := s.store.GetUser(r.Context(), c.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !auth.CheckPassword(user.HashedPassword, req.CurrentPassword) {
		s.fail(w, r, fault.InvalidFields("The password was not changed.", map[string]string{"current_password": "is wrong"}))
		return
	}
	if err := auth.ValidatePassword(req.NewPassword); err != nil {
		s.fail(w, r, fault.InvalidFields("The password was not changed.", map[string]string{"new_password": err.Error()}))
		return
	}
	hash, err := auth.HashPasswordCost(req.NewPassword, s.opt.PasswordCost)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.store.UpdateUser(r.Context(), user.ID, core.UserUpdate{HashedPassword: &hash}); err != nil {
		s.fail(w, r, err)
		return
	}
	// Other sessions end; this one goes on until its access token expires.
	if err := s.id.EndUserSessions(r.Context(), user.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, user.TenantID, "user.password", "user", user.ID, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	httpx.WriteJSON(w, http.StatusOK, s.id.JWKS())
}

// handleVerify tells the gateway who a credential speaks for: an API key
// (X-API-Key or Authorization: ApiKey …) or an access token (Bearer).
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	kind, cred := credential.Parse(r.Header)
	var err error
	switch kind {
	case credential.APIKey:
		var id any
		if id, err = s.id.VerifyAPIKey(r.Context(), cred); err == nil {
			httpx.WriteJSON(w, http.StatusOK, id)
			return
		}
	case credential.Bearer:
		claims, aerr := s.id.Authenticate(r.Context(), cred)
		if err = aerr; err == nil {
			id, ierr := s.id.IdentityOf(r.Context(), claims)
			if err = ierr; err == nil {
				httpx.WriteJSON(w, http.StatusOK, id)
				return
			}
		}
	case credential.Invalid:
		err = fault.Errorf(fault.Unauthorized, "%s", credential.InvalidMessage)
	default:
		err = fault.Errorf(fault.Unauthorized, "%s", credential.MissingMessage)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="plugboard"`)
	s.fail(w, r, err)
}

//go:embed openapi.json
var openAPI []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
