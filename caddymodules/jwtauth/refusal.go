package jwtauth

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/plugboard/plugboard/caddymodules/gatewayctx"
	"github.com/plugboard/plugboard/internal/credential"
)

// refusal is a refused request: its status and a message safe to show.
// presented says whether a credential was sent (a 401 then carries
// error="invalid_token").
type refusal struct {
	status    int
	msg       string
	presented bool
}

func (e *refusal) Error() string { return e.msg }

var (
	errNoCredentials  = &refusal{http.StatusUnauthorized, credential.MissingMessage, false}
	errBadCredentials = &refusal{http.StatusUnauthorized, credential.InvalidMessage, true}
	errBadToken       = &refusal{http.StatusUnauthorized, "The access token is invalid.", true}
	errExpiredToken   = &refusal{http.StatusUnauthorized, "The access token has expired.", true}
	errBadKey         = &refusal{http.StatusUnauthorized, "The API key is invalid, expired or revoked.", true}
)

// refuse turns err into the handler's error: a refusal's status and
// message, or 503 when core could not be asked.
func (h *JWTAuth) refuse(w http.ResponseWriter, err error) error {
	var rf *refusal
	if !errors.As(err, &rf) {
		h.logger.Warn("could not ask core about a credential", slog.String("core", h.Core), slog.Any("error", err))
		return caddyhttp.Error(http.StatusServiceUnavailable,
			gatewayctx.PublicError{Message: "The identity service is unavailable right now; try again shortly."})
	}
	if rf.status == http.StatusUnauthorized {
		challenge := `Bearer realm="plugboard"`
		if rf.presented {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	return caddyhttp.Error(rf.status, gatewayctx.PublicError{Message: rf.msg})
}

// forwardsAuthorization reports whether the operator lets service receive
// the client's Authorization header (never one carrying an API key).
func (h *JWTAuth) forwardsAuthorization(service string, authz []string) bool {
	if service == "" || !slices.Contains(h.ForwardAuthorization, service) {
		return false
	}
	for _, a := range authz {
		// Whatever follows the scheme: "ApiKey\t<key>" is refused as a
		// credential but still carries the key.
		if len(a) >= 6 && strings.EqualFold(a[:6], "ApiKey") {
			return false
		}
	}
	return true
}
