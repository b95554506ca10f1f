// Validation of input fields, shared by the aggregates: each bad field
// is named in a fault.Invalid error.

package core

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/plugboard/plugboard/internal/fault"
	"github.com/plugboard/plugboard/registry"
)

// maxNameLen caps names, usernames and other short identifiers, in bytes.
const maxNameLen = 255

// NormalizeHandle returns the stored form of a username or tenant name:
// ASCII letters lower-cased, everything else as it is. Handles are
// case-insensitive (as Keycloak's usernames are): every store lookup and
// every create applies it, so "Alice" logs in as "alice".
func NormalizeHandle(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// problems collects what is wrong with each input field.
type problems map[string]string

// rateLimit adds what is wrong with l (registry.RateLimit's rules), each
// sub-field under field.
func (p problems) rateLimit(field string, l *registry.RateLimit) {
	maps.Copy(p, l.FieldProblems(field))
}

func (p problems) err(message string) error {
	if len(p) == 0 {
		return nil
	}
	return fault.InvalidFields(message, p)
}

func (p problems) required(field, v string) {
	if v == "" {
		p[field] = "is required"
	}
}

// text checks free text: valid UTF-8 without control characters.
func (p problems) text(field, v string) {
	switch {
	case !utf8.ValidString(v):
		p[field] = "must be valid UTF-8"
	case strings.ContainsFunc(v, unicode.IsControl):
		p[field] = "must not contain control characters"
	}
}

// name checks a short identifier: required, text, trimmed, bounded.
func (p problems) name(field, v string) {
	switch {
	case v == "":
		p[field] = "is required"
	case len(v) > maxNameLen:
		p[field] = fmt.Sprintf("must be at most %d bytes long", maxNameLen)
	case strings.TrimSpace(v) != v:
		p[field] = "must not start or end with white space"
	default:
		p.text(field, v)
	}
}

// handle checks a username or tenant name: a name of ASCII letters,
// digits and . _ - @ + only. Other scripts and compatibility forms (the
// fullwidth ｕ of "ｕsr") are refused rather than folded.
func (p problems) handle(field, v string) {
	if p.name(field, v); p[field] != "" {
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-@+", c) >= 0) {
			p[field] = "may contain only ASCII letters, digits and . _ - @ +"
			return
		}
	}
}

func (p problems) email(field, v string) {
	if v == "" {
		return
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v || len(v) > maxNameLen {
		p[field] = "must be a plain email address like name@example.com"
	}
}

func (p problems) role(field string, r Role) {
	if !r.Valid() {
		p[field] = fmt.Sprintf("must be one of %s, %s, %s", RoleSuperAdmin, RoleTenantAdmin, RoleUser)
	}
}

// list checks a list of names, each present once.
func (p problems) list(field string, vs []string) {
	seen := make(map[string]bool, len(vs))
	for i, v := range vs {
		key := fmt.Sprintf("%s[%d]", field, i)
		if seen[v] {
			p[key] = fmt.Sprintf("%q is listed twice", v)
			continue
		}
		seen[v] = true
		p.name(key, v)
	}
}

// jsonObject checks that raw is empty, null, or a JSON object that every
// storage engine keeps as given.
func (p problems) jsonObject(field string, raw json.RawMessage) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
	case !utf8.ValidString(s) || !json.Valid(raw):
		p[field] = "must be a JSON object"
	case s[0] != '{':
		p[field] = "must be a JSON object"
	default:
		if problem := checkEscapes(s); problem != "" {
			p[field] = problem
		}
	}
}

// checkEscapes rejects \u escapes in valid JSON text that not every engine
// accepts: NUL, and surrogates that do not form a pair (PostgreSQL rejects
// both, SQLite would keep them).
func checkEscapes(s string) string {
	const bad = "must not contain \\u0000 or unpaired surrogate escapes"
	// hex4 returns the code unit of the \uXXXX escape at s[i:], or -1.
	hex4 := func(i int) int {
		if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
			return -1
		}
		v := 0
		for _, c := range s[i+2 : i+6] {
			d := strings.IndexRune("0123456789abcdef", unicode.ToLower(c))
			if d < 0 {
				return -1
			}
			v = v*16 + d
		}
		return v
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		u := hex4(i)
		if u < 0 { // another escape such as \" or \\: skip the escaped byte
			i++
			continue
		}
		switch {
		case u == 0, u >= 0xDC00 && u <= 0xDFFF:
			return bad
		case u >= 0xD800 && u <= 0xDBFF:
			if low := hex4(i + 6); low < 0xDC00 || low > 0xDFFF {
				return bad
			}
			i += 6
		}
		i += 5
	}
	return ""
}
