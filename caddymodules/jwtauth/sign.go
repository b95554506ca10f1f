package jwtauth

// This file uses the standard library only, so that service SDKs can copy
// it verbatim to check the identity headers jwt_auth sets.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"time"
)

// The identity headers jwt_auth sets on every request it lets through with
// credentials. It first removes every client-sent header whose name starts
// with X-Plugboard-, so a service behind the gateway can trust them; to
// trust them without trusting the network, it checks HeaderSignature with
// CheckSignature.
const (
	HeaderUserID    = "X-Plugboard-User-Id"   // the user's id; empty for a tenant-wide API key
	HeaderTenantID  = "X-Plugboard-Tenant-Id" // the caller's tenant
	HeaderRoles     = "X-Plugboard-Roles"     // the caller's roles, comma-separated
	HeaderScopes    = "X-Plugboard-Scopes"    // the credential's scopes, comma-separated
	HeaderTimestamp = "X-Plugboard-Timestamp" // unix seconds when the gateway signed
	HeaderSignature = "X-Plugboard-Signature" // Sign over the above, hex
)

// ServiceKeyLabel prefixes the service name in ServiceKey's derivation.
const ServiceKeyLabel = "plugboard-service-key:"

// ServiceKey returns the key that signs the identity headers of requests
// to service: the hex HMAC-SHA256, keyed by the gateway's master signing
// secret, of ServiceKeyLabel + service. A plugin holds only its own
// service's key (PLUGBOARD_SERVICE_KEY), used as given (the 64 hex
// characters are the HMAC key), so knowing it neither reveals the master
// nor lets anyone sign for another service.
func ServiceKey(master []byte, service string) string {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(ServiceKeyLabel + service))
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns the hex HMAC-SHA256, keyed by key (the service's
// ServiceKey), of
//
//	service + "\n" + method + "\n" + path + "\n" + user + "\n" + tenant + "\n" + roles + "\n" + scopes + "\n" + timestamp
//
// where service is the registered name of the service the request goes to,
// path is the request target — escaped path and query — the service
// receives after the gateway's rewrite (for /api/orders/items/1?a=2 of a
// service with base path /v1, that is /v1/items/1?a=2), so that the service
// checks it against its own request (Go: r.URL.RequestURI());
// roles and scopes are the comma-separated header values and timestamp the
// decimal unix seconds.
func Sign(key []byte, service, method, path, user, tenant, roles, scopes, timestamp string) string {
	return signWith(hmac.New(sha256.New, key), service, method, path, user, tenant, roles, scopes, timestamp)
}

// signWith is Sign with a keyed HMAC, which it resets first.
func signWith(m hash.Hash, service, method, path, user, tenant, roles, scopes, timestamp string) string {
	fields := [...]string{service, method, path, user, tenant, roles, scopes, timestamp}
	n := len(fields) - 1
	for _, f := range fields {
		n += len(f)
	}
	msg := make([]byte, 0, n)
	for i, f := range fields {
		if i > 0 {
			msg = append(msg, '\n')
		}
		msg = append(msg, f...)
	}
	m.Reset()
	m.Write(msg)
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// CheckSignature reports whether signature is Sign of the other arguments
// under one of keys (the current and, during a rotation, the previous
// service key) and timestamp lies within maxSkew of now, in constant time
// with respect to the signature.
func CheckSignature(keys [][]byte, signature, service, method, path, user, tenant, roles, scopes, timestamp string, now time.Time, maxSkew time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
		return false
	}
	ok := false
	for _, key := range keys {
		if len(key) == 0 {
			continue
		}
		want := Sign(key, service, method, path, user, tenant, roles, scopes, timestamp)
		if hmac.Equal([]byte(signature), []byte(want)) {
			ok = true
		}
	}
	return ok
}
