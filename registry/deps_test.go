package registry_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/testenv"
)

// TestRegistryDoesNotDependOnCore pins the layering of issue 13: no package
// the registry's programs are built from comes from core/. Core may use the
// registry's root package (the service-name rule), never the other way
// round. Tests may (registryd's run a real core to verify API keys).
func TestRegistryDoesNotDependOnCore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if testenv.InCI() {
			t.Fatal("go is not on PATH")
		}
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/plugboard/plugboard/registry/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const core = "github.com/plugboard/plugboard/core"
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == core || strings.HasPrefix(pkg, core+"/") {
			t.Errorf("the registry depends on %s", pkg)
		}
	}
}
