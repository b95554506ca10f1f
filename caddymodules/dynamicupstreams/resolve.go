package dynamicupstreams

import (
	"errors"
	"net/url"
	"strings"
	"unicode"
)

// validService reports whether s is what the registry accepts as a service
// name: ^[a-z0-9][a-z0-9_-]{0,62}$ (checked by hand: it runs per request).
func validService(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Errors of Resolve.
var (
	// errNotAPI: the path is not under the prefix, or names no service.
	errNotAPI = errors.New("not an /api/{service}/ path")
	// errUnsafePath: the path holds a dot segment, an encoded slash or
	// backslash, a backslash, NUL or another control character.
	errUnsafePath = errors.New("unsafe path")
)

// Resolve splits an escaped request path such as /api/orders/items/42 into
// the service name ("orders") and the rest ("/items/42"), still escaped as
// the client sent it, so that it can be appended to the service's base path.
//
// It works on the path as sent, and refuses anything that could climb or
// smuggle a separator: a "." or ".." segment (plain or percent-encoded), an
// encoded "/" or "\", a backslash, NUL or any control character. Empty
// segments (doubled slashes) are dropped, as nginx's merge_slashes does.
// So whatever Resolve accepts, base_path + rest stays under base_path.
func Resolve(prefix, escapedPath string) (service, rest string, err error) {
	if !strings.HasPrefix(escapedPath, prefix) {
		return "", "", errNotAPI
	}
	var segs []string
	for _, seg := range strings.Split(escapedPath[len(prefix):], "/") {
		if seg == "" {
			continue
		}
		plain, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", errUnsafePath
		}
		if plain == "." || plain == ".." || strings.ContainsAny(plain, `/\`) ||
			strings.ContainsFunc(plain, unicode.IsControl) || strings.ContainsAny(seg, `\`) {
			return "", "", errUnsafePath
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return "", "", errNotAPI
	}
	service = segs[0]
	if !validService(service) {
		return "", "", errNotAPI
	}
	rest = "/" + strings.Join(segs[1:], "/")
	if len(segs) > 1 && strings.HasSuffix(escapedPath, "/") {
		rest += "/"
	}
	return service, rest, nil
}
