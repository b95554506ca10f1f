import { describe, expect, it } from 'vitest'
import type { Instance, Traffic } from '../api/types'
import { limitRows, splitRows } from '../versionsplit'

const fig = { errors_4xx: 0, errors_5xx: 0, rps: 0, error_rate: 0, p50_ms: 1, p99_ms: 2 }
const report = (versions: { version: string; requests: number; errors_5xx?: number }[]): Traffic => ({
  from: '', to: '', step_seconds: 60, scope: 'cluster', totals: { ...fig, requests: 0 },
  services: [
    { service: 'other', ...fig, requests: 99, series: [] },
    {
      service: 'shop', ...fig, requests: versions.reduce((a, v) => a + v.requests, 0), series: [],
      versions: versions.map((v) => ({ ...fig, share: 0, ...v })),
    },
  ],
})

describe('splitRows', () => {
  it('sets each version share beside its weight share, unversioned last', () => {
    const rows = splitRows(report([{ version: '', requests: 1 }, { version: 'v1', requests: 6 }, { version: 'v2', requests: 3, errors_5xx: 1 }]), 'shop', { v1: 90, v2: 10, v3: 0 })
    expect(rows.map((r) => [r.version, r.requests, r.live, r.configured, r.errors])).toEqual([
      ['v1', 6, 60, 90, 0], ['v2', 3, 30, 10, 1], ['v3', 0, 0, 0, 0], ['', 1, 10, 0, 0],
    ])
  })
  it('without rules or traffic', () => {
    expect(splitRows(report([{ version: 'v1', requests: 3 }]), 'shop', undefined)).toEqual([
      { version: 'v1', requests: 3, errors: 0, p99_ms: 2, live: 100, configured: null },
    ])
    expect(splitRows(null, 'shop', { v1: 1 })).toEqual([{ version: 'v1', requests: 0, errors: 0, p99_ms: 0, live: 0, configured: 100 }])
    expect(splitRows(report([]), 'nope', undefined)).toEqual([])
  })
})

describe('limitRows', () => {
  const inst = (version: string, endpoints: Instance['endpoints']) => ({ version, endpoints }) as Instance
  it('lists each distinct limit once with the versions declaring it, defaults filled', () => {
    const ep = (path: string, rate_limit?: unknown) => ({ path, method: 'GET', description: '', required_roles: [], is_public: false, rate_limit })
    const rows = limitRows([
      inst('v1', [ep('/b', { requests: 10, per: '1m' }), ep('/a', { requests: 5, per: '1s', burst: 2, key: 'tenant' }), ep('/none')]),
      inst('v2', [ep('/b', { requests: 10, per: '1m' }), ep('/a', { requests: 9, per: '1s' })]),
      inst('', [ep('/c', 'odd')]),
    ])
    expect(rows).toEqual([
      { method: 'GET', path: '/a', requests: 5, per: '1s', burst: 2, key: 'tenant', versions: ['v1'] },
      { method: 'GET', path: '/a', requests: 9, per: '1s', burst: 9, key: 'user', versions: ['v2'] },
      { method: 'GET', path: '/b', requests: 10, per: '1m', burst: 10, key: 'user', versions: ['v1', 'v2'] },
      { method: 'GET', path: '/c', raw: '"odd"', versions: [''] },
    ])
  })
})
