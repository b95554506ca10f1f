// The login session: access and refresh tokens (kept in localStorage so a
// reload or a second tab stays logged in), the caller from /api/auth/me and
// what they may do. The access token is refreshed silently a minute before
// it expires; a refresh token is single-use, so concurrent refreshes share
// one request, and a tab that lost the race picks up the tokens the winning
// tab stored.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { Me, Tokens } from '../api/types'
import { ApiError, toProblem } from '../api/problem'
import { permissionsForRoles } from '../permissions'

const STORAGE_KEY = 'plugboard.session'

interface Session {
  access: string
  refresh: string
  expiresAt: number // ms since epoch
}

function loadSession(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null')
    return s && typeof s.access === 'string' && typeof s.refresh === 'string' ? s : null
  } catch {
    return null
  }
}

/** refreshDelay is how long to wait before refreshing a token valid for ttlMs more. */
export function refreshDelay(ttlMs: number): number {
  // A minute early, or at 80 % of a short lifetime; never in a tight loop.
  return Math.max(1000, ttlMs - 60_000, ttlMs * 0.8)
}

async function postJSON(path: string, body: unknown, bearer?: string): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' }
  if (bearer) headers.Authorization = `Bearer ${bearer}`
  return fetch(path, { method: 'POST', headers, body: JSON.stringify(body) })
}

export const useAuthStore = defineStore('auth', () => {
  const session = ref<Session | null>(loadSession())
  const me = ref<Me | null>(null)
  let refreshing: Promise<void> | null = null
  let timer: ReturnType<typeof setTimeout> | undefined
  /** onExpired runs when the session ends against the user's will (set by the router). */
  let onExpired: () => void = () => {}

  const loggedIn = computed(() => session.value !== null)
  const roles = computed(() => me.value?.roles ?? [])
  const permissions = computed<string[]>(() => me.value?.permissions ?? permissionsForRoles(roles.value))
  const isSuperAdmin = computed(() => roles.value.includes('super_admin'))

  function can(perm: string | undefined): boolean {
    return !perm || permissions.value.includes(perm)
  }

  function setTokens(t: Tokens) {
    session.value = { access: t.access_token, refresh: t.refresh_token, expiresAt: Date.now() + t.expires_in * 1000 }
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session.value))
    schedule()
  }

  function schedule() {
    clearTimeout(timer)
    if (!session.value) return
    timer = setTimeout(() => {
      refresh().catch(() => expire())
    }, refreshDelay(session.value.expiresAt - Date.now()))
  }

  function clear() {
    clearTimeout(timer)
    session.value = null
    me.value = null
    localStorage.removeItem(STORAGE_KEY)
  }

  async function login(tenant: string, username: string, password: string) {
    const res = await postJSON('/api/auth/login', { tenant: tenant || undefined, username, password })
    if (!res.ok) throw new ApiError(res.status, await toProblem(res))
    setTokens(await res.json())
    await loadMe()
  }

  async function loadMe() {
    const { api } = await import('../api/http')
    me.value = await api.get<Me>('/api/auth/me')
  }

  /** refresh exchanges the refresh token for new tokens; callers share one request. */
  function refresh(): Promise<void> {
    if (!refreshing) {
      refreshing = doRefresh().finally(() => {
        refreshing = null
      })
    }
    return refreshing
  }

  async function doRefresh() {
    const current = session.value
    if (!current) throw new ApiError(401, { detail: 'Not logged in.' })
    const res = await postJSON('/api/auth/refresh', { refresh_token: current.refresh })
    if (res.ok) {
      setTokens(await res.json())
      return
    }
    // Another tab may have rotated the token first and stored the new one.
    const stored = loadSession()
    if (stored && stored.refresh !== current.refresh && stored.expiresAt > Date.now()) {
      session.value = stored
      schedule()
      return
    }
    throw new ApiError(res.status, await toProblem(res))
  }

  /** expire ends a session that can no longer be refreshed and sends the user to the login page. */
  function expire() {
    clear()
    onExpired()
  }

  async function logout() {
    const s = session.value
    clear()
    if (s) await postJSON('/api/auth/logout', { refresh_token: s.refresh }, s.access).catch(() => undefined)
  }

  function setOnExpired(fn: () => void) {
    onExpired = fn
  }

  /** resume restarts the refresh timer of a session loaded from storage. */
  function resume() {
    if (session.value) schedule()
  }

  return {
    session, me, loggedIn, roles, permissions, isSuperAdmin,
    can, login, loadMe, refresh, expire, logout, clear, setOnExpired, resume, setTokens,
  }
})
