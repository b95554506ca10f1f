// api is the console's fetch wrapper for the same-origin /api: it sends the
// access token, refreshes it once on a 401 and retries, sends the user back
// to the login page when the refresh fails, and turns every failure into an
// ApiError carrying the problem's detail.
import { useAuthStore } from '../stores/auth'
import { ApiError, toProblem } from './problem'

export type Query = Record<string, string | number | boolean | undefined | null>

export interface RequestOptions {
  query?: Query
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
}

export interface ApiResponse<T> {
  data: T
  status: number
  headers: Headers
}

/** withQuery appends the non-empty parameters (the APIs refuse `?x=`). */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  }
  const s = q.toString()
  return s ? `${path}?${s}` : path
}

/** authHeaders are the headers every API call carries. */
export function authHeaders(): Record<string, string> {
  const auth = useAuthStore()
  return auth.session ? { Authorization: `Bearer ${auth.session.access}` } : {}
}

/** authorizedFetch sends a request with the access token, refreshing it once on a 401. */
export async function authorizedFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const auth = useAuthStore()
  const send = () => fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), ...authHeaders() } })
  let res = await send()
  if (res.status === 401 && auth.session) {
    try {
      await auth.refresh()
    } catch {
      auth.expire()
      return res
    }
    // A fresh token still refused is not an ended session: this endpoint
    // does not take it (the caller shows the problem's detail).
    res = await send()
  }
  return res
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers }
  let body: string | undefined
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(opts.body)
  }
  const res = await authorizedFetch(withQuery(path, opts.query), { method, headers, body, signal: opts.signal })
  if (!res.ok) throw new ApiError(res.status, await toProblem(res))
  const text = res.status === 204 ? '' : await res.text()
  return { data: (text ? JSON.parse(text) : undefined) as T, status: res.status, headers: res.headers }
}

export const api = {
  get: async <T>(path: string, query?: Query, signal?: AbortSignal) => (await request<T>('GET', path, { query, signal })).data,
  post: async <T>(path: string, body?: unknown, query?: Query) => (await request<T>('POST', path, { body, query })).data,
  put: async <T>(path: string, body?: unknown, query?: Query) => (await request<T>('PUT', path, { body, query })).data,
  patch: async <T>(path: string, body?: unknown) => (await request<T>('PATCH', path, { body })).data,
  del: async <T = void>(path: string, query?: Query) => (await request<T>('DELETE', path, { query })).data,
}

/** isNotFound tells an endpoint this core/registry does not have yet. */
export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 404 || e.status === 405)
}
