// The figures of the versions page that are not the routing rules: the
// live traffic split per version (the gateway's GET
// /api/gateway/traffic?by=version), set against the rules' weights, and
// the rate limits the service's endpoints declare.
import type { Instance, Traffic } from './api/types'

export interface SplitRow {
  version: string // '' for requests no version served
  requests: number
  errors: number
  p99_ms: number
  /** share of the service's requests in the window, in percent (one decimal) */
  live: number
  /** the rules' weight share in percent, or null when the rules set no weight */
  configured: number | null
}

const pct = (part: number, whole: number) => (whole > 0 ? Math.round((1000 * part) / whole) / 10 : 0)

/**
 * splitRows lines up what each version served in the report with the
 * rules' weights: every version that served or has a weight, sorted by
 * version (the unversioned '' last).
 */
export function splitRows(report: Traffic | null, service: string, weights: Record<string, number> | undefined): SplitRow[] {
  const svc = report?.services.find((s) => s.service === service)
  const total = svc?.requests ?? 0
  const totalWeight = Object.values(weights ?? {}).reduce((a, w) => a + (w > 0 ? w : 0), 0)
  const rows = new Map<string, SplitRow>()
  const row = (v: string): SplitRow => {
    let r = rows.get(v)
    if (!r) {
      const w = weights?.[v]
      r = { version: v, requests: 0, errors: 0, p99_ms: 0, live: 0, configured: totalWeight > 0 ? pct(w && w > 0 ? w : 0, totalWeight) : null }
      rows.set(v, r)
    }
    return r
  }
  for (const v of Object.keys(weights ?? {})) row(v)
  for (const f of svc?.versions ?? []) {
    const r = row(f.version)
    r.requests = f.requests
    r.errors = f.errors_4xx + f.errors_5xx
    r.p99_ms = f.p99_ms
    r.live = pct(f.requests, total)
  }
  return [...rows.values()].sort((a, b) => (a.version === '' ? 1 : b.version === '' ? -1 : a.version.localeCompare(b.version)))
}

export interface LimitRow {
  method: string
  path: string
  /** requests per period, burst and key, when the limit has that shape */
  requests?: number
  per?: string
  burst?: number
  key?: string
  /** the limit as given, when it has another shape */
  raw?: string
  versions: string[] // the versions whose instances declare it ('' for none)
}

interface RateLimitShape { requests?: unknown; per?: unknown; burst?: unknown; key?: unknown }

/**
 * limitRows lists each endpoint's rate limit once per distinct limit,
 * with the versions that declare it (instances of several versions may
 * differ), sorted by path then method. Defaults as the gateway applies
 * them: burst = requests, key = user.
 */
export function limitRows(instances: Instance[]): LimitRow[] {
  const rows = new Map<string, LimitRow>()
  for (const inst of instances) {
    for (const e of inst.endpoints ?? []) {
      if (e.rate_limit === undefined || e.rate_limit === null) continue
      const id = `${e.method} ${e.path} ${JSON.stringify(e.rate_limit)}`
      let r = rows.get(id)
      if (!r) {
        r = { method: e.method, path: e.path, versions: [] }
        const l = e.rate_limit as RateLimitShape
        if (typeof l === 'object' && typeof l.requests === 'number' && typeof l.per === 'string') {
          r.requests = l.requests
          r.per = l.per
          r.burst = typeof l.burst === 'number' && l.burst > 0 ? l.burst : l.requests
          r.key = typeof l.key === 'string' && l.key ? l.key : 'user'
        } else {
          r.raw = JSON.stringify(e.rate_limit)
        }
        rows.set(id, r)
      }
      const v = inst.version ?? ''
      if (!r.versions.includes(v)) r.versions.push(v)
    }
  }
  for (const r of rows.values()) r.versions.sort()
  return [...rows.values()].sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method))
}
