import { afterEach, describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import ApiKeysView from '../views/ApiKeysView.vue'
import { useAuthStore } from '../stores/auth'
import { flush, me, setup, stubFetch, tokens } from './helpers'

afterEach(() => {
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

describe('API keys', () => {
  it('shows the secret once, closes only when saved, then forgets it', { timeout: 30_000 }, async () => {
    const { pinia, i18n } = setup()
    const secret = 'pb_live_3fa85f64_' + 'x'.repeat(43)
    let list: unknown[] = []
    const f = stubFetch({
      'GET /api/api-keys': () => ({ body: list }),
      'POST /api/api-keys': () => {
        list = [{ id: 'k1', tenant_id: 't1', name: 'ci', prefix: '3fa85f64', scopes: ['orders:read'], expires_at: null, last_used: null, revoked_at: null, created_at: '2026-01-01T00:00:00Z' }]
        return { status: 201, body: { api_key: list[0], key: secret } }
      },
    })
    const auth = useAuthStore()
    auth.setTokens(tokens(1))
    auth.me = me(['tenant_admin']) as never
    const w = mount(ApiKeysView, { attachTo: document.body, global: { plugins: [pinia, i18n], directives: { loading: {} } } })
    await flush()
    expect(document.body.textContent).toContain('No API keys yet')
    await w.find('[data-test=key-new]').trigger('click')
    await flush()
    const name = document.querySelector<HTMLInputElement>('input[data-test=key-name]')!
    name.value = 'ci'
    name.dispatchEvent(new Event('input'))
    await flush()
    document.querySelector<HTMLButtonElement>('[data-test=key-create-submit]')!.click()
    await flush()
    await flush()
    expect(f.calls.find((c) => c.method === 'POST')!.body).toMatchObject({ name: 'ci', scopes: [], expires_at: null })
    const shown = document.querySelector<HTMLInputElement>('input[data-test=key-secret]')!
    expect(shown.value).toBe(secret)
    const done = document.querySelector<HTMLButtonElement>('[data-test=key-done]')!
    expect(done.disabled).toBe(true)
    const saved = document.querySelector<HTMLInputElement>('[data-test=key-saved] input')!
    saved.click()
    await flush()
    expect(done.disabled).toBe(false)
    done.click()
    await flush()
    await new Promise((r) => setTimeout(r, 400))
    // The list shows only the prefix; the secret is gone from the page.
    expect(document.body.innerHTML).not.toContain(secret)
    expect(document.body.textContent).toContain('pb_live_3fa85f64_…')
  })
})
