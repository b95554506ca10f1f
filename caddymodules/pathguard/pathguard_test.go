package pathguard

import "testing"

func TestHasDotSegment(t *testing.T) {
	for p, want := range map[string]bool{
		"/": false, "/api/a/b": false, "/a/.hidden": false, "/a/..b": false, "/a...": false,
		"/a/./b": true, "/a/../b": true, "/..": true, "/.": true, "/a/..": true, "..": true, "/a//../b": true,
		// Servlet path parameters (issue 11, finding 11).
		"/a/..;/b": true, "/a/..;x=1/b": true, "/a/.;/b": true, "/..;": true, "/a/b;c": false, "/a/..x;/b": false,
	} {
		if got := HasDotSegment(p); got != want {
			t.Errorf("HasDotSegment(%q) = %v, want %v", p, got, want)
		}
	}
}
