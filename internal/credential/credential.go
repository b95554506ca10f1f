// Package credential reads the one credential a request carries, the same
// way at every component that checks one (the gateway's jwt_auth, core's
// API, the registry's API): an access token in Authorization: Bearer, or an
// API key in X-API-Key or Authorization: ApiKey. Two credentials, another
// scheme or an empty value are refused, never resolved by preferring one.
package credential

import (
	"net/http"
	"strings"
)

// Kind says which credential a request carries.
type Kind int

const (
	None    Kind = iota // no Authorization and no X-API-Key
	Bearer              // Authorization: Bearer <token>
	APIKey              // X-API-Key: <key> or Authorization: ApiKey <key>
	Invalid             // another scheme, an empty value, or more than one credential
)

// Messages every component answers with (401 problem details).
const (
	// MissingMessage: the request carries no credential.
	MissingMessage = "Credentials are required: send Authorization: Bearer <access token> or X-API-Key: <key>."
	// InvalidMessage: the request's credential is of Kind Invalid.
	InvalidMessage = "Send one credential: Authorization: Bearer <access token>, Authorization: ApiKey <key> or X-API-Key: <key>."
)

// Parse finds the credential in hd and its value (trimmed). It does not
// allocate: it reads the canonical keys ("X-Api-Key") as net/http stores
// them, where hd.Values("X-API-Key") would canonicalize on every call.
func Parse(hd http.Header) (Kind, string) {
	authz, keys := hd["Authorization"], hd["X-Api-Key"]
	switch {
	case len(authz) == 0 && len(keys) == 0:
		return None, ""
	case len(authz)+len(keys) > 1:
		return Invalid, ""
	case len(keys) == 1:
		if k := strings.TrimSpace(keys[0]); k != "" {
			return APIKey, k
		}
		return Invalid, ""
	}
	scheme, value, _ := strings.Cut(authz[0], " ")
	value = strings.TrimSpace(value)
	switch {
	case value == "":
		return Invalid, ""
	case strings.EqualFold(scheme, "Bearer"):
		return Bearer, value
	case strings.EqualFold(scheme, "ApiKey"):
		return APIKey, value
	}
	return Invalid, ""
}
