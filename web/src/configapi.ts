// Calls of the configuration center (core's /api/config).
import { api, request, type Query } from './api/http'
import type { ConfigEntry, ConfigVersion } from './api/types'

export interface Scope {
  scope: 'global' | 'tenant'
  tenantId?: string
}

export function scopeQuery(s: Scope): Query {
  return s.scope === 'global' ? { scope: 'global' } : { scope: 'tenant', tenant_id: s.tenantId }
}

/** entryPath is /api/config/{service}/{key}; a key ending in a reserved word keeps its last slash encoded. */
export function entryPath(service: string, key: string, suffix = ''): string {
  const segs = key.split('/').map(encodeURIComponent)
  let k = segs.join('/')
  if (segs.length > 1 && ['history', 'diff', 'rollback'].includes(segs[segs.length - 1])) {
    k = segs.slice(0, -1).join('/') + '%2F' + segs[segs.length - 1]
  }
  return `/api/config/${encodeURIComponent(service)}/${k}${suffix}`
}

export const configApi = {
  list: (s: Scope, service?: string) => api.get<ConfigEntry[]>('/api/config', { ...scopeQuery(s), service }),
  get: (s: Scope, service: string, key: string) => api.get<ConfigEntry>(entryPath(service, key), scopeQuery(s)),
  history: (s: Scope, service: string, key: string) => api.get<ConfigVersion[]>(entryPath(service, key, '/history'), scopeQuery(s)),
  /** put writes a value: over version `base`, or only if the entry does not exist (base 0). */
  put: async (s: Scope, service: string, key: string, value: unknown, comment: string, base: number) =>
    (await request<ConfigEntry>('PUT', entryPath(service, key), {
      query: scopeQuery(s), body: { value, comment },
      headers: base > 0 ? { 'If-Match': `"${base}"` } : { 'If-None-Match': '*' },
    })).data,
  rollback: async (s: Scope, service: string, key: string, version: number, base: number) =>
    (await request<ConfigEntry>('POST', entryPath(service, key, '/rollback'), {
      query: scopeQuery(s), body: { version }, headers: { 'If-Match': `"${base}"` },
    })).data,
}
