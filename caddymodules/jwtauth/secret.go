package jwtauth

import (
	"fmt"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/plugboard/plugboard/internal/secretfile"
)

// loadSecret returns the signing secret: SigningSecret when it expands to
// a value, otherwise the content of SigningSecretFile. It only reads:
// whoever runs Caddy makes the file (plugboard-gateway does, in the data
// directory), so that `caddy validate` or a reload writes nothing.
func (h *JWTAuth) loadSecret() (string, error) {
	repl := caddy.NewReplacer()
	if h.SigningSecret != "" {
		if s := repl.ReplaceKnown(h.SigningSecret, ""); s != "" {
			return s, nil
		}
	}
	if h.SigningSecretFile == "" {
		return "", fmt.Errorf("jwt_auth: no signing secret: set signing_secret_file <path> (or signing_secret to a placeholder such as {env.PLUGBOARD_GATEWAY_SIGNING_SECRET}, which is %q)", h.SigningSecret)
	}
	path := repl.ReplaceKnown(h.SigningSecretFile, "")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("jwt_auth: signing_secret_file %q: %w (plugboard-gateway makes it when it starts; or set PLUGBOARD_GATEWAY_SIGNING_SECRET)", path, err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < secretfile.MinLength {
		return "", fmt.Errorf("jwt_auth: signing_secret_file %q holds %d characters; want at least %d", path, len(s), secretfile.MinLength)
	}
	return s, nil
}
