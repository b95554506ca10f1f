// Side-by-side diff rows (old on the left, new on the right) from the
// `diff` package's line diff, as Nacos users asked for: removed lines pair
// with the added lines that replace them.
import { diffLines } from 'diff'

export type Kind = 'same' | 'del' | 'add' | 'empty'
export interface Cell {
  n?: number
  text: string
  kind: Kind
}
export interface Row {
  left: Cell
  right: Cell
}

function lines(s: string): string[] {
  const out = s.split('\n')
  if (out.length > 0 && out[out.length - 1] === '') out.pop()
  return out
}

export function diffRows(oldText: string, newText: string): Row[] {
  const rows: Row[] = []
  let ln = 1
  let rn = 1
  let dels: string[] = []
  const flush = (adds: string[]) => {
    const n = Math.max(dels.length, adds.length)
    for (let i = 0; i < n; i++) {
      rows.push({
        left: i < dels.length ? { n: ln++, text: dels[i], kind: 'del' } : { text: '', kind: 'empty' },
        right: i < adds.length ? { n: rn++, text: adds[i], kind: 'add' } : { text: '', kind: 'empty' },
      })
    }
    dels = []
  }
  for (const part of diffLines(oldText, newText)) {
    const ls = lines(part.value)
    if (part.removed) {
      dels.push(...ls)
    } else if (part.added) {
      flush(ls)
    } else {
      flush([])
      for (const l of ls) rows.push({ left: { n: ln++, text: l, kind: 'same' }, right: { n: rn++, text: l, kind: 'same' } })
    }
  }
  flush([])
  return rows
}

/** changedOnly keeps the changed rows and `context` unchanged rows around each. */
export function changedOnly(rows: Row[], context = 2): (Row | null)[] {
  const keep = rows.map(() => false)
  rows.forEach((r, i) => {
    if (r.left.kind !== 'same') for (let j = Math.max(0, i - context); j <= Math.min(rows.length - 1, i + context); j++) keep[j] = true
  })
  const out: (Row | null)[] = []
  rows.forEach((r, i) => {
    if (keep[i]) out.push(r)
    else if (out.length === 0 || out[out.length - 1] !== null) out.push(null) // a gap marker
  })
  return out
}

/** parseJSON validates editor text. */
export function parseJSON(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (e) {
    return { ok: false, error: (e as Error).message }
  }
}
