import { afterEach, describe, expect, it, vi } from 'vitest'
import { useAuthStore, refreshDelay } from '../stores/auth'
import { api } from '../api/http'
import { me, setup, stubFetch, tokens } from './helpers'

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

describe('auth store', () => {
  it('logs in, keeps the tokens and loads the caller', async () => {
    setup()
    const f = stubFetch({
      'POST /api/auth/login': () => ({ body: tokens(1) }),
      'GET /api/auth/me': () => ({ body: me(['tenant_admin']) }),
    })
    const auth = useAuthStore()
    await auth.login('acme', 'alice', 'pw')
    expect(f.calls[0].body).toEqual({ tenant: 'acme', username: 'alice', password: 'pw' })
    expect(f.calls[1].headers.Authorization).toBe('Bearer access-1')
    expect(auth.me?.user.username).toBe('alice')
    expect(JSON.parse(localStorage.getItem('plugboard.session')!).refresh).toBe('pbrt_1')
    // No permissions from core: derived from the role.
    expect(auth.can('users:write')).toBe(true)
    expect(auth.can('tenants:write')).toBe(false)
  })

  it('refreshes once on a 401 and retries with the new token', async () => {
    setup()
    let n = 0
    const f = stubFetch({
      'POST /api/auth/refresh': () => ({ body: tokens(2) }),
      'GET /api/users': (r) => ((r.headers as Record<string, string>).Authorization === 'Bearer access-2' ? { body: [] } : { status: 401, body: { detail: 'expired' } }),
    })
    const auth = useAuthStore()
    auth.setTokens(tokens(1))
    const [a, b] = await Promise.all([api.get('/api/users'), api.get('/api/users')])
    expect(a).toEqual([])
    expect(b).toEqual([])
    n = f.calls.filter((c) => c.url === '/api/auth/refresh').length
    expect(n).toBe(1) // concurrent 401s share one refresh (the token is single-use)
    expect(f.calls.find((c) => c.url === '/api/auth/refresh')!.body).toEqual({ refresh_token: 'pbrt_1' })
    expect(auth.session?.refresh).toBe('pbrt_2')
  })

  it('sends the user to the login page when the refresh fails', async () => {
    setup()
    stubFetch({
      'POST /api/auth/refresh': () => ({ status: 401, body: { detail: 'The refresh token is not valid.' } }),
      'GET /api/users': () => ({ status: 401, body: { detail: 'expired' } }),
    })
    const auth = useAuthStore()
    const expired = vi.fn()
    auth.setOnExpired(expired)
    auth.setTokens(tokens(1))
    await expect(api.get('/api/users')).rejects.toThrow('expired')
    expect(expired).toHaveBeenCalledOnce()
    expect(auth.loggedIn).toBe(false)
    expect(localStorage.getItem('plugboard.session')).toBeNull()
  })

  it('keeps the session when an endpoint refuses even a fresh token', async () => {
    setup()
    const detail = 'A registry credential is required: an API key with the registry:write scope.'
    stubFetch({
      'POST /api/auth/refresh': () => ({ body: tokens(2) }),
      'POST /api/registry/deregister/x': () => ({ status: 401, body: { detail } }),
    })
    const auth = useAuthStore()
    const expired = vi.fn()
    auth.setOnExpired(expired)
    auth.setTokens(tokens(1))
    await expect(api.post('/api/registry/deregister/x')).rejects.toThrow(detail)
    expect(expired).not.toHaveBeenCalled()
    expect(auth.loggedIn).toBe(true)
  })

  it('refreshes silently before the access token expires', async () => {
    vi.useFakeTimers()
    setup()
    const f = stubFetch({ 'POST /api/auth/refresh': () => ({ body: tokens(2) }) })
    const auth = useAuthStore()
    auth.setTokens(tokens(1, 300))
    await vi.advanceTimersByTimeAsync(239_000)
    expect(f.calls).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(f.calls.map((c) => c.url)).toEqual(['/api/auth/refresh'])
    expect(auth.session?.access).toBe('access-2')
  })

  it('picks up the tokens another tab rotated first', async () => {
    setup()
    stubFetch({ 'POST /api/auth/refresh': () => ({ status: 401, body: { detail: 'used' } }) })
    const auth = useAuthStore()
    auth.setTokens(tokens(1))
    localStorage.setItem('plugboard.session', JSON.stringify({ access: 'access-9', refresh: 'pbrt_9', expiresAt: Date.now() + 60_000 }))
    await auth.refresh()
    expect(auth.session?.access).toBe('access-9')
  })

  it('refreshDelay is a minute early, never a tight loop', () => {
    expect(refreshDelay(1_800_000)).toBe(1_740_000)
    expect(refreshDelay(100_000)).toBe(80_000)
    expect(refreshDelay(0)).toBe(1000)
  })

  it('logout ends the session on the server', async () => {
    setup()
    const f = stubFetch({ 'POST /api/auth/logout': () => ({ status: 204 }) })
    const auth = useAuthStore()
    auth.setTokens(tokens(1))
    await auth.logout()
    expect(f.calls[0].body).toEqual({ refresh_token: 'pbrt_1' })
    expect(auth.loggedIn).toBe(false)
  })
})
