package udiff

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// lines splits s at "\n"; "" is no line at all.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// numbered is the lines "1" … "n", with the lines at the given indexes
// (0-based) replaced.
func numbered(n int, replace map[int]string) string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprint(i + 1)
		if r, ok := replace[i]; ok {
			l[i] = r
		}
	}
	return strings.Join(l, "\n")
}

func TestUnified(t *testing.T) {
	const head = "--- x\n+++ y\n"
	tests := []struct {
		name, a, b, want string
	}{
		{"both empty", "", "", ""},
		{"identical", "a\nb\nc", "a\nb\nc", ""},
		{"from nothing", "", "a\nb", head + "@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"to nothing", "a", "", head + "@@ -1,1 +0,0 @@\n-a\n"},
		{"add at the start", "a\nb", "0\na\nb", head + "@@ -1,2 +1,3 @@\n+0\n a\n b\n"},
		{"add at the end", "a\nb", "a\nb\nc", head + "@@ -1,2 +1,3 @@\n a\n b\n+c\n"},
		{"remove at the start", "a\nb\nc", "b\nc", head + "@@ -1,3 +1,2 @@\n-a\n b\n c\n"},
		{"remove at the end", "a\nb\nc", "a\nb", head + "@@ -1,3 +1,2 @@\n a\n b\n-c\n"},
		{"insertion in the middle", "a\nc", "a\nb\nc", head + "@@ -1,2 +1,3 @@\n a\n+b\n c\n"},
		{"change in the middle keeps three lines of context", numbered(11, nil), numbered(11, map[int]string{5: "X"}),
			head + "@@ -3,7 +3,7 @@\n 3\n 4\n 5\n-6\n+X\n 7\n 8\n 9\n"},
		{"removals come before additions", "a\nb\nc\nd", "a\nX\nY\nd",
			head + "@@ -1,4 +1,4 @@\n a\n-b\n-c\n+X\n+Y\n d\n"},
		{"two hunks", numbered(12, nil), numbered(12, map[int]string{1: "X", 10: "Y"}),
			head + "@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+Y\n 12\n"},
		{"changes six lines apart share a hunk", numbered(10, nil), numbered(10, map[int]string{1: "X", 8: "Y"}),
			head + "@@ -1,10 +1,10 @@\n 1\n-2\n+X\n 3\n 4\n 5\n 6\n 7\n 8\n-9\n+Y\n 10\n"},
		{"changes seven lines apart do not", numbered(11, nil), numbered(11, map[int]string{1: "X", 9: "Y"}),
			head + "@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -7,5 +7,5 @@\n 7\n 8\n 9\n-10\n+Y\n 11\n"},
		{"empty lines are lines", "a\n\nb", "a\nb", head + "@@ -1,3 +1,2 @@\n a\n-\n b\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := lines(tc.a), lines(tc.b)
			if got := Unified(a, b, "x", "y"); got != tc.want {
				t.Fatalf("diff =\n%s\nwant\n%s", got, tc.want)
			}
			checkOps(t, a, b, Lines(a, b))
		})
	}
}

// checkOps checks that ops keep or remove every line of a and keep or add
// every line of b, in order.
func checkOps(t *testing.T, a, b []string, ops []Op) {
	t.Helper()
	var gotA, gotB []string
	for _, op := range ops {
		switch op.Kind {
		case ' ':
			gotA, gotB = append(gotA, op.Line), append(gotB, op.Line)
		case '-':
			gotA = append(gotA, op.Line)
		case '+':
			gotB = append(gotB, op.Line)
		default:
			t.Fatalf("op kind %q", op.Kind)
		}
	}
	if strings.Join(gotA, "\n") != strings.Join(a, "\n") || strings.Join(gotB, "\n") != strings.Join(b, "\n") {
		t.Fatalf("ops do not rebuild the inputs:\n%v", ops)
	}
}

func TestTooLargeToAlignIsOneReplacedBlock(t *testing.T) {
	var a, b []string
	for i := range 3000 { // 3000 × 3000 cells > MaxCells
		a = append(a, "a"+fmt.Sprint(i%10))
		b = append(b, "b"+fmt.Sprint(i%10))
	}
	d := Unified(a, b, "x", "y")
	if !strings.HasPrefix(d, "--- x\n+++ y\n@@ -1,3000 +1,3000 @@\n-a0\n") || strings.Count(d, "\n-a") != 3000 || strings.Count(d, "\n+b") != 3000 {
		t.Fatalf("large diff starts %q", d[:60])
	}
	checkOps(t, a, b, Lines(a, b))
}

// TestLargeInputsAreQuick is a performance sanity check: the largest
// table Lines builds, and a long input with one change, take well under a
// second (the bound is generous for shared CI machines).
func TestLargeInputsAreQuick(t *testing.T) {
	const n = 2000 // n × n = MaxCells: the largest aligned table
	a, b := make([]string, n), make([]string, n)
	for i := range n {
		a[i] = fmt.Sprintf(`  "k%d": %d,`, i, i)
		b[i] = a[i]
		if i%7 == 0 { // changes everywhere: nothing to set aside
			b[i] = fmt.Sprintf(`  "k%d": "changed",`, i)
		}
	}
	long := strings.Split(numbered(200000, nil), "\n")
	longChanged := strings.Split(numbered(200000, map[int]string{100000: "X"}), "\n")
	for _, tc := range []struct {
		name string
		a, b []string
	}{{"scattered changes", a, b}, {"one change in a long input", long, longChanged}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			d := Unified(tc.a, tc.b, "x", "y")
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("Unified took %v", took)
			}
			if d == "" {
				t.Fatal("no diff")
			}
			checkOps(t, tc.a, tc.b, Lines(tc.a, tc.b))
		})
	}
}

func BenchmarkUnifiedLargestTable(b *testing.B) {
	const n = 2000
	x, y := make([]string, n), make([]string, n)
	for i := range n {
		x[i], y[i] = fmt.Sprint(i), fmt.Sprint(i)
		if i%7 == 0 {
			y[i] = "changed"
		}
	}
	for b.Loop() {
		Unified(x, y, "x", "y")
	}
}
