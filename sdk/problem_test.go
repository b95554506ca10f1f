package sdk_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/plugboard/plugboard/internal/httpx"
	"github.com/plugboard/plugboard/sdk"
)

// The SDKs answer the platform's problem types: the Go SDK from the one
// table (internal/httpx), the Python SDK from a copy pinned here.
func TestProblemTypesMatchThePlatform(t *testing.T) {
	for status, name := range httpx.ProblemTypes() {
		w := httptest.NewRecorder()
		sdk.Problem(w, httptest.NewRequest("GET", "/x", nil), status, "d")
		var p struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != "/problems/"+name {
			t.Errorf("Go SDK, %d: type %q, want /problems/%s", status, p.Type, name)
		}
	}
	if got := httpx.ProblemType(http.StatusBadRequest); got != "/problems/invalid" {
		t.Errorf("400 is %q, not the platform's invalid", got)
	}

	src, err := os.ReadFile("python/plugboard/responses.py")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)_CODES = \{(.*?)\}`).FindSubmatch(src)
	if block == nil {
		t.Fatal("no _CODES table in the Python SDK")
	}
	python := map[int]string{}
	for _, m := range regexp.MustCompile(`(\d+): "([a-z_]+)"`).FindAllSubmatch(block[1], -1) {
		n, _ := strconv.Atoi(string(m[1]))
		python[n] = string(m[2])
	}
	want := httpx.ProblemTypes()
	for status, name := range want {
		if python[status] != name {
			t.Errorf("Python SDK, %d: %q, want %q", status, python[status], name)
		}
	}
	for status := range python {
		if _, ok := want[status]; !ok {
			t.Errorf("Python SDK names %d, which the platform's table lacks", status)
		}
	}
}
