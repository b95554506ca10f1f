package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Validator checks JSON values against the schemas of one OpenAPI 3.1
// document: the JSON Schema keywords the project's documents use ($ref,
// type, enum, const, properties, required, additionalProperties, items,
// min/maxItems, uniqueItems, min/maxLength, pattern, format, minimum,
// maximum, allOf, anyOf, oneOf, not, if/then/else). An unknown keyword is
// reported, so that a schema is never half checked in silence.
//
// It exists instead of a validating proxy (Prism) because it checks bodies
// whatever jsonSchemaDialect says, runs inside go test without Node, and
// the bad-input generator needs the same schema walk.
type Validator struct {
	doc map[string]any
	mu  sync.Mutex
	res map[string]*regexp.Regexp
}

// NewValidator returns a Validator over doc (as Load returns it).
func NewValidator(doc map[string]any) *Validator {
	return &Validator{doc: doc, res: map[string]*regexp.Regexp{}}
}

// annotations are keywords that do not constrain a value.
var annotations = map[string]bool{
	"description": true, "title": true, "default": true, "example": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "$comment": true, "contentMediaType": true,
}

// Validate returns what is wrong with v (decoded with UseNumber, or plain
// float64s) against schema, one message per violation, each prefixed with
// the JSON path of the value ("$.endpoints[0].path").
func (vd *Validator) Validate(schema, v any) []string {
	var errs []string
	vd.check(schema, normalize(v), "$", &errs, 0)
	return errs
}

// Valid reports whether v satisfies schema.
func (vd *Validator) Valid(schema, v any) bool { return len(vd.Validate(schema, v)) == 0 }

// normalize turns float64 and int values into json.Number, so that a value
// built in Go and one decoded from JSON compare alike.
func normalize(v any) any {
	switch x := v.(type) {
	case float64:
		return json.Number(fmt.Sprint(x))
	case int:
		return json.Number(fmt.Sprint(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// Resolve follows $ref from schema until an object without one.
func (vd *Validator) Resolve(schema any) map[string]any {
	for range 16 {
		obj, _ := schema.(map[string]any)
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj
		}
		target, err := Pointer(vd.doc, ref)
		if err != nil {
			return nil
		}
		schema = target
	}
	return nil
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, ok := new(big.Int).SetString(x.String(), 10); ok {
			return "integer"
		}
		if f, err := x.Float64(); err == nil && f == float64(int64(f)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func typeMatches(want, got string) bool {
	return want == got || want == "number" && got == "integer"
}

func (vd *Validator) check(schema any, v any, path string, errs *[]string, depth int) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, path+": "+fmt.Sprintf(format, args...))
	}
	if depth > 64 {
		fail("schema nests too deep")
		return
	}
	if b, ok := schema.(bool); ok {
		if !b {
			fail("no value is allowed here")
		}
		return
	}
	s, ok := schema.(map[string]any)
	if !ok {
		fail("schema is not an object")
		return
	}
	if ref, ok := s["$ref"].(string); ok {
		target, err := Pointer(vd.doc, ref)
		if err != nil {
			fail("$ref %s: %v", ref, err)
			return
		}
		vd.check(target, v, path, errs, depth+1)
	}
	got := typeOf(v)
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kv := s[k]
		switch k {
		case "$ref", "properties", "then", "else", "format":
			// properties goes with additionalProperties below; then/else
			// with if; format after the type check.
		case "type":
			var types []string
			switch t := kv.(type) {
			case string:
				types = []string{t}
			case []any:
				for _, e := range t {
					types = append(types, fmt.Sprint(e))
				}
			}
			okType := false
			for _, t := range types {
				okType = okType || typeMatches(t, got)
			}
			if !okType {
				fail("is %s, want %s", got, strings.Join(types, " or "))
				return
			}
		case "enum":
			list, _ := kv.([]any)
			found := false
			for _, e := range list {
				found = found || equal(e, v)
			}
			if !found {
				fail("%s is not one of %v", short(v), list)
			}
		case "const":
			if !equal(kv, v) {
				fail("%s is not %v", short(v), kv)
			}
		case "required":
			obj, isObj := v.(map[string]any)
			list, _ := kv.([]any)
			for _, name := range list {
				if _, ok := obj[fmt.Sprint(name)]; isObj && !ok {
					fail("lacks required %s", name)
				}
			}
		case "additionalProperties":
			obj, isObj := v.(map[string]any)
			if !isObj {
				continue
			}
			props, _ := s["properties"].(map[string]any)
			for name, e := range obj {
				if _, declared := props[name]; declared {
					continue
				}
				if b, ok := kv.(bool); ok && !b {
					fail("has unknown property %q", name)
				} else if !ok {
					vd.check(kv, e, path+"."+name, errs, depth+1)
				}
			}
		case "items":
			list, isList := v.([]any)
			for i, e := range list {
				if isList {
					vd.check(kv, e, fmt.Sprintf("%s[%d]", path, i), errs, depth+1)
				}
			}
		case "minItems", "maxItems":
			if list, ok := v.([]any); ok {
				n := toInt(kv)
				if k == "minItems" && len(list) < n || k == "maxItems" && len(list) > n {
					fail("has %d items, %s is %d", len(list), k, n)
				}
			}
		case "uniqueItems":
			if list, ok := v.([]any); ok && kv == true {
				for i := range list {
					for j := i + 1; j < len(list); j++ {
						if equal(list[i], list[j]) {
							fail("items %d and %d are equal", i, j)
						}
					}
				}
			}
		case "minLength", "maxLength":
			if str, ok := v.(string); ok {
				n, l := toInt(kv), utf8.RuneCountInString(str)
				if k == "minLength" && l < n || k == "maxLength" && l > n {
					fail("has %d characters, %s is %d", l, k, n)
				}
			}
		case "pattern":
			if str, ok := v.(string); ok {
				re, err := vd.regexp(fmt.Sprint(kv))
				if err != nil {
					fail("pattern %q: %v", kv, err)
				} else if !re.MatchString(str) {
					fail("%s does not match %s", short(v), kv)
				}
			}
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			n, ok := v.(json.Number)
			if !ok {
				continue
			}
			a, _ := new(big.Rat).SetString(n.String())
			b, _ := new(big.Rat).SetString(fmt.Sprint(kv))
			if a == nil || b == nil {
				fail("cannot compare %v with %v", n, kv)
				continue
			}
			c := a.Cmp(b)
			if k == "minimum" && c < 0 || k == "maximum" && c > 0 || k == "exclusiveMinimum" && c <= 0 || k == "exclusiveMaximum" && c >= 0 {
				fail("%s breaks %s %v", n, k, kv)
			}
		case "allOf":
			list, _ := kv.([]any)
			for _, sub := range list {
				vd.check(sub, v, path, errs, depth+1)
			}
		case "anyOf", "oneOf":
			list, _ := kv.([]any)
			n := 0
			for _, sub := range list {
				if len(vd.sub(sub, v, depth)) == 0 {
					n++
				}
			}
			if n == 0 || k == "oneOf" && n > 1 {
				fail("matches %d of the %s schemas", n, k)
			}
		case "not":
			if len(vd.sub(kv, v, depth)) == 0 {
				fail("%s matches a schema it must not", short(v))
			}
		case "if":
			branch := "else"
			if len(vd.sub(kv, v, depth)) == 0 {
				branch = "then"
			}
			if sub, ok := s[branch]; ok {
				vd.check(sub, v, path, errs, depth+1)
			}
		default:
			if !annotations[k] && !strings.HasPrefix(k, "x-") {
				fail("unsupported schema keyword %q", k)
			}
		}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		if obj, ok := v.(map[string]any); ok {
			for name, sub := range props {
				if e, ok := obj[name]; ok {
					vd.check(sub, e, path+"."+name, errs, depth+1)
				}
			}
		}
	}
	if f, ok := s["format"].(string); ok {
		if str, ok := v.(string); ok {
			if msg := checkFormat(f, str); msg != "" {
				fail("%s is not a valid %s: %s", short(v), f, msg)
			}
		}
	}
}

func (vd *Validator) sub(schema, v any, depth int) []string {
	var errs []string
	vd.check(schema, v, "$", &errs, depth+1)
	return errs
}

// regexp compiles an ECMA-262 pattern as Go's RE2: \uXXXX escapes become
// \x{XXXX}. Patterns RE2 cannot express (look-around, back references)
// fail to compile and are reported.
func (vd *Validator) regexp(pattern string) (*regexp.Regexp, error) {
	vd.mu.Lock()
	defer vd.mu.Unlock()
	if re, ok := vd.res[pattern]; ok {
		return re, nil
	}
	re, err := regexp.Compile(uEscape.ReplaceAllString(pattern, `\x{$1}`))
	if err != nil {
		return nil, err
	}
	vd.res[pattern] = re
	return re, nil
}

var uEscape = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

func checkFormat(format, s string) string {
	switch format {
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return err.Error()
		}
	case "uri-reference":
		if _, err := url.Parse(s); err != nil {
			return err.Error()
		}
		if strings.ContainsAny(s, " \t\r\n\"<>\\^`{|}") {
			return "holds characters a URI reference cannot"
		}
	case "uri":
		if u, err := url.Parse(s); err != nil || u.Scheme == "" {
			return "not an absolute URI"
		}
	case "uuid":
		if !uuidPattern.MatchString(s) {
			return "not a UUID"
		}
	case "email":
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			return "not a plain address"
		}
	}
	return ""
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func toInt(v any) int {
	var n int
	fmt.Sscan(fmt.Sprint(v), &n)
	return n
}

func equal(a, b any) bool {
	a, b = normalize(a), normalize(b)
	if na, ok := a.(json.Number); ok {
		nb, ok := b.(json.Number)
		if !ok {
			return false
		}
		ra, _ := new(big.Rat).SetString(na.String())
		rb, _ := new(big.Rat).SetString(nb.String())
		return ra != nil && rb != nil && ra.Cmp(rb) == 0
	}
	return reflect.DeepEqual(a, b)
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// Operation is one operation of a document.
type Operation struct {
	Method string         // upper case
	Path   string         // the path template
	Op     map[string]any // the operation object, $ref resolved
	Params []map[string]any
}

// Operations lists doc's operations, in path then method order, with the
// path item's and the operation's parameters resolved (the operation's
// win).
func (vd *Validator) Operations() []Operation {
	paths, _ := vd.doc["paths"].(map[string]any)
	names := make([]string, 0, len(paths))
	for p := range paths {
		names = append(names, p)
	}
	sort.Strings(names)
	var ops []Operation
	for _, p := range names {
		item := vd.Resolve(paths[p])
		for _, m := range Methods {
			opv, ok := item[m]
			if !ok {
				continue
			}
			op := vd.Resolve(opv)
			byKey := map[string]map[string]any{}
			var order []string
			for _, list := range []any{item["parameters"], op["parameters"]} {
				arr, _ := list.([]any)
				for _, pv := range arr {
					pm := vd.Resolve(pv)
					key := fmt.Sprint(pm["in"]) + ":" + fmt.Sprint(pm["name"])
					if _, seen := byKey[key]; !seen {
						order = append(order, key)
					}
					byKey[key] = pm
				}
			}
			o := Operation{Method: strings.ToUpper(m), Path: p, Op: op}
			for _, k := range order {
				o.Params = append(o.Params, byKey[k])
			}
			ops = append(ops, o)
		}
	}
	return ops
}

// Find returns the operation that serves method on a concrete path: the
// template that matches with the most literal characters (so
// /config/{service}/{key}/history beats /config/{service}/{key}).
func (vd *Validator) Find(method, path string) (Operation, bool) {
	var best Operation
	bestLen := -1
	for _, op := range vd.Operations() {
		if op.Method != method {
			continue
		}
		re, literal := templateRegexp(op.Path)
		if re.MatchString(path) && literal > bestLen {
			best, bestLen = op, literal
		}
	}
	return best, bestLen >= 0
}

var templateParam = regexp.MustCompile(`\{[^}]+\}`)

func templateRegexp(tmpl string) (*regexp.Regexp, int) {
	literal := len(templateParam.ReplaceAllString(tmpl, ""))
	parts := templateParam.Split(tmpl, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	// Each parameter is one segment, but the last may span several (a
	// configuration key such as a/b).
	var b strings.Builder
	b.WriteString("^")
	for i, p := range parts {
		b.WriteString(p)
		switch {
		case i == len(parts)-1:
		case i == len(parts)-2:
			b.WriteString("([^?#]+)")
		default:
			b.WriteString("([^/?#]+)")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()), literal
}

// Statuses returns the statuses op documents ("200", "4XX", "default").
func (o Operation) Statuses() []string {
	resp, _ := o.Op["responses"].(map[string]any)
	var out []string
	for k := range resp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RequestSchema returns the schema of op's application/json request body,
// or nil.
func (vd *Validator) RequestSchema(o Operation) any {
	rb := vd.Resolve(o.Op["requestBody"])
	content, _ := rb["content"].(map[string]any)
	mt := vd.Resolve(content["application/json"])
	if mt == nil {
		return nil
	}
	return mt["schema"]
}

// CheckResponse returns what is wrong with a response to o: a status the
// operation does not document, a media type it does not list, or a JSON
// body outside the schema. Bodies of other media types (event streams)
// are not checked.
func (vd *Validator) CheckResponse(o Operation, status int, header http.Header, body []byte) []string {
	resp, _ := o.Op["responses"].(map[string]any)
	code := fmt.Sprint(status)
	spec, ok := resp[code]
	if !ok {
		spec, ok = resp[code[:1]+"XX"]
	}
	if !ok {
		spec, ok = resp["default"]
	}
	if !ok {
		return []string{fmt.Sprintf("status %d is not documented (documented: %v)", status, o.Statuses())}
	}
	r := vd.Resolve(spec)
	content, _ := r["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 && status != http.StatusNoContent {
			return []string{fmt.Sprintf("status %d documents no body but one was sent", status)}
		}
		return nil
	}
	if status == http.StatusNoContent || len(body) == 0 && header.Get("Content-Type") == "" {
		return []string{fmt.Sprintf("status %d documents a body but none was sent", status)}
	}
	mediaType, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return []string{fmt.Sprintf("Content-Type %q: %v", header.Get("Content-Type"), err)}
	}
	mt, ok := content[mediaType]
	if !ok {
		var listed []string
		for k := range content {
			listed = append(listed, k)
		}
		return []string{fmt.Sprintf("status %d: Content-Type %s is not documented (documented: %v)", status, mediaType, listed)}
	}
	if mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json") {
		return nil
	}
	schema := vd.Resolve(mt)["schema"]
	if schema == nil {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []string{fmt.Sprintf("status %d: the body is not JSON: %v", status, err)}
	}
	return vd.Validate(schema, v)
}
