// Package udiff computes line diffs and renders them in the unified format
// of diff -u, as the configuration center shows the change between two
// versions of an entry. It is pure: no I/O, no state.
//
// Lines are aligned by a longest common subsequence after the common head
// and tail are set aside. The table that takes is bounded (MaxCells): a
// change too large to align is shown as one replaced block, still a
// correct diff, so a request can never make the server allocate without
// bound.
package udiff

import (
	"fmt"
	"strings"
)

const (
	// Context is the number of unchanged lines Unified shows around each
	// change.
	Context = 3
	// MaxCells bounds the alignment table (changed lines of a × changed
	// lines of b, after the common head and tail are set aside).
	MaxCells = 4 << 20
)

// Op is one line of a diff.
type Op struct {
	// Kind is ' ' for a line kept, '-' removed from a, '+' added from b.
	Kind byte
	Line string
}

// Lines aligns a and b line by line: every line of a in order, as kept or
// removed, interleaved with every line of b, as kept or added; in each
// changed run, removals come before additions.
func Lines(a, b []string) []Op {
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	ops := make([]Op, 0, len(a)+len(b)-head-tail)
	for _, l := range a[:head] {
		ops = append(ops, Op{' ', l})
	}
	ops = append(ops, lcs(a[head:len(a)-tail], b[head:len(b)-tail])...)
	for _, l := range a[len(a)-tail:] {
		ops = append(ops, Op{' ', l})
	}
	return ops
}

// lcs aligns a and b by a longest common subsequence, or, beyond
// MaxCells, as all of a removed and all of b added.
func lcs(a, b []string) []Op {
	n, m := len(a), len(b)
	ops := make([]Op, 0, n+m)
	if n*m > MaxCells {
		for _, l := range a {
			ops = append(ops, Op{'-', l})
		}
		for _, l := range b {
			ops = append(ops, Op{'+', l})
		}
		return ops
	}
	// l[i*w+j] is the length of an LCS of a[i:] and b[j:].
	w := m + 1
	l := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i*w+j] = l[(i+1)*w+j+1] + 1
			} else {
				l[i*w+j] = max(l[(i+1)*w+j], l[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			ops = append(ops, Op{' ', a[i]})
			i, j = i+1, j+1
		case l[(i+1)*w+j] >= l[i*w+j+1]:
			ops = append(ops, Op{'-', a[i]})
			i++
		default:
			ops = append(ops, Op{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, Op{'-', a[i]})
	}
	for ; j < m; j++ {
		ops = append(ops, Op{'+', b[j]})
	}
	return ops
}

// Unified renders the line diff of a and b in unified format, headed
// "--- nameA" and "+++ nameB", with Context lines of context around each
// change (hunks whose contexts meet are merged), or "" when a and b are
// equal. Every line, the last included, ends in "\n".
func Unified(a, b []string, nameA, nameB string) string {
	ops := Lines(a, b)
	// oldAt[k], newAt[k]: lines of a and b before ops[k].
	oldAt, newAt := make([]int, len(ops)+1), make([]int, len(ops)+1)
	for k, op := range ops {
		oldAt[k+1], newAt[k+1] = oldAt[k], newAt[k]
		if op.Kind != '+' {
			oldAt[k+1]++
		}
		if op.Kind != '-' {
			newAt[k+1]++
		}
	}
	var out strings.Builder
	for k := 0; k < len(ops); {
		for k < len(ops) && ops[k].Kind == ' ' {
			k++
		}
		if k == len(ops) {
			break
		}
		start, end := max(0, k-Context), k
		for end < len(ops) {
			if ops[end].Kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].Kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*Context {
				end = min(end+Context, len(ops))
				break
			}
			end = run
		}
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(oldAt[start], oldAt[end]-oldAt[start]), hunkRange(newAt[start], newAt[end]-newAt[start]))
		for _, op := range ops[start:end] {
			out.WriteByte(op.Kind)
			out.WriteString(op.Line)
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}

// hunkRange is a unified diff range: first line (1-based; the line before
// for an empty range) and count.
func hunkRange(before, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", before)
	}
	return fmt.Sprintf("%d,%d", before+1, count)
}
