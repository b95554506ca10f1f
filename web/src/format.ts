// Formatting helpers shared by the views.

/** fmtTime shows an RFC 3339 time in the browser's zone; '' or null as '—'. */
export function fmtTime(iso: string | null | undefined, locale: string): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toLocaleString(locale, { hour12: false })
}

/** ago is a short relative time ("12s", "3m", "2h", "4d"). */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—'
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86400)}d`
}

/** pretty is JSON as the editors and diffs show it. */
export function pretty(v: unknown): string {
  return v === undefined ? '' : JSON.stringify(v, null, 2)
}

/** errorText is what a failed call shows: the problem detail of an ApiError. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
