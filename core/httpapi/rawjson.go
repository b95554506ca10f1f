// JSON written with configuration values verbatim.

package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// jsonObject builds a JSON object field by field. encoding/json compacts
// and re-escapes whatever a json.Marshaler returns, which would change a
// configuration value's bytes; raw fields are appended verbatim instead.
type jsonObject struct {
	b []byte
}

// field adds a field encoded by encoding/json.
func (o *jsonObject) field(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only the types above are passed: cannot happen
		panic(fmt.Sprintf("encode %s: %v", name, err))
	}
	o.raw(name, b)
}

// raw adds a field holding valid JSON text, verbatim; empty text is null.
func (o *jsonObject) raw(name string, v []byte) {
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	key, _ := json.Marshal(name)
	o.b = append(append(o.b, key...), ':')
	if len(v) == 0 {
		v = []byte("null")
	}
	o.b = append(o.b, v...)
}

func (o *jsonObject) bytes() []byte {
	if len(o.b) == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}

func jsonArray(items [][]byte) []byte {
	return append(append([]byte{'['}, bytes.Join(items, []byte{','})...), ']')
}

func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
