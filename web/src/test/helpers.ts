// Test helpers: a fetch stub answering from a route table, and an app
// context (pinia + i18n) for mounting components.
import { vi } from 'vitest'
import { createPinia, setActivePinia, type Pinia } from 'pinia'
import { makeI18n } from '../i18n'

export type Handler = (init: RequestInit & { url: string }) => { status?: number; body?: unknown; headers?: Record<string, string> }

export interface FetchStub {
  calls: { method: string; url: string; headers: Record<string, string>; body?: unknown }[]
}

export function stubFetch(routes: Record<string, Handler>): FetchStub {
  const stub: FetchStub = { calls: [] }
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = (init.method ?? 'GET').toUpperCase()
    const headers = (init.headers ?? {}) as Record<string, string>
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined
    stub.calls.push({ method, url, headers, body })
    const path = url.split('?')[0]
    const h = routes[`${method} ${path}`]
    if (!h) return new Response(JSON.stringify({ status: 404, detail: `no route ${method} ${path}` }), { status: 404, headers: { 'Content-Type': 'application/problem+json' } })
    const r = h({ ...init, url })
    const status = r.status ?? 200
    return new Response(status === 204 ? null : JSON.stringify(r.body ?? {}), { status, headers: { 'Content-Type': 'application/json', ...r.headers } })
  }))
  return stub
}

export function setup(locale: 'en' | 'zh-CN' = 'en'): { pinia: Pinia; i18n: ReturnType<typeof makeI18n> } {
  localStorage.clear()
  const pinia = createPinia()
  setActivePinia(pinia)
  return { pinia, i18n: makeI18n(locale) }
}

export const tokens = (n: number, ttl = 1800) => ({ access_token: `access-${n}`, refresh_token: `pbrt_${n}`, token_type: 'bearer', expires_in: ttl })

export const me = (roles: string[], permissions?: string[]) => ({
  user: { id: 'u1', tenant_id: 't1', username: 'alice', email: '', role: roles[0], is_active: true, created_at: '', updated_at: '', last_login: null },
  tenant: { id: 't1', name: 'acme', display_name: 'ACME', config: {}, enabled_services: [], is_active: true, created_at: '', updated_at: '' },
  roles, ...(permissions ? { permissions } : {}),
})

export const flush = () => new Promise((r) => setTimeout(r, 0))
