package dynamicupstreams

import (
	"errors"
	"net/url"
	"strings"
	"unicode"

	"github.com/plugboard/plugboard/registry"
)

// Errors of Resolve.
var (
	// errNotAPI: the path is not under the prefix, or names no service.
	errNotAPI = errors.New("not an /api/{service}/ path")
	// errUnsafePath: the path holds a dot segment, an encoded slash or
	// backslash, a backslash, NUL or another control character, a ";"
	// (plain or encoded: a path parameter, as in servlet-style "..;"), or a
	// double-encoded character ("%25" and two hex digits).
	errUnsafePath = errors.New("unsafe path")
)

// Resolve splits an escaped request path such as /api/orders/items/42 into
// the service name ("orders") and the rest ("/items/42"), still escaped as
// the client sent it, so that it can be appended to the service's base path.
//
// It works on the path as sent, and refuses anything that could climb or
// smuggle a separator: a "." or ".." segment (plain or percent-encoded), an
// encoded "/" or "\", a backslash, NUL or any control character; and what
// a plugin's router could read differently from the gateway's policy
// lookup: a ";" path parameter in any segment (Tomcat, Jetty and Spring
// read "/..;/" as "/../" and "/admin;x=1" as "/admin"), and a
// double-encoded character ("%2561" is "%61" once decoded, "a" twice). Empty
// segments (doubled slashes) are dropped, as nginx's merge_slashes does.
// So whatever Resolve accepts, base_path + rest stays under base_path.
func Resolve(prefix, escapedPath string) (service, rest string, err error) {
	if !strings.HasPrefix(escapedPath, prefix) {
		return "", "", errNotAPI
	}
	tail := escapedPath[len(prefix):]
	// One pass checks every segment and notes where the service name is and
	// whether an empty segment (a doubled slash) has to be dropped. Nothing
	// is allocated unless a segment is percent-encoded or slashes doubled.
	svcStart, svcEnd, n, empty := -1, -1, 0, false
	for i := 0; i <= len(tail); {
		j := strings.IndexByte(tail[i:], '/')
		if j < 0 {
			j = len(tail) - i
		}
		seg := tail[i : i+j]
		switch {
		case seg == "":
			if i+j < len(tail) || n == 0 { // not the one trailing slash
				empty = true
			}
		case !safeSegment(seg):
			return "", "", errUnsafePath
		default:
			if n == 0 {
				svcStart, svcEnd = i, i+j
			}
			n++
		}
		i += j + 1
	}
	if n == 0 {
		return "", "", errNotAPI
	}
	service = tail[svcStart:svcEnd]
	if !registry.ValidName(service) {
		return "", "", errNotAPI
	}
	if !empty { // the path as sent, from the slash after the service
		if rest = tail[svcEnd:]; rest == "" {
			rest = "/"
		}
		return service, rest, nil
	}
	var b strings.Builder
	b.Grow(len(tail) - svcEnd + 1)
	for _, seg := range strings.Split(tail[svcEnd:], "/") {
		if seg != "" {
			b.WriteByte('/')
			b.WriteString(seg)
		}
	}
	if b.Len() == 0 || strings.HasSuffix(escapedPath, "/") {
		b.WriteByte('/')
	}
	return service, b.String(), nil
}

// safeSegment reports whether one non-empty path segment, as sent, is
// neither "." nor ".." (plain or percent-encoded) nor holds a slash or
// backslash (encoded or not), a semicolon (encoded or not), a control
// character or a double-encoded character.
func safeSegment(seg string) bool {
	if strings.IndexByte(seg, '\\') >= 0 || strings.IndexByte(seg, ';') >= 0 {
		return false
	}
	plain := seg
	if strings.IndexByte(seg, '%') >= 0 {
		var err error
		if plain, err = url.PathUnescape(seg); err != nil || hasEscape(plain) {
			return false
		}
	}
	return plain != "." && plain != ".." && !strings.ContainsAny(plain, `/\;`) && !hasControl(plain)
}

// hasEscape reports whether s, already decoded once, still holds a percent
// escape ("%" and two hex digits): the client encoded it twice.
func hasEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && ishex(s[i+1]) && ishex(s[i+2]) {
			return true
		}
	}
	return false
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// hasControl reports whether s holds a control character (unicode.IsControl:
// C0, DEL and, in UTF-8, C1), looking at ASCII bytes one by one.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return true
		case c >= 0x80:
			return strings.ContainsFunc(s[i:], unicode.IsControl)
		}
	}
	return false
}
