import { afterEach, describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import AuditView from '../views/AuditView.vue'
import { useAuthStore } from '../stores/auth'
import { flush, me, setup, stubFetch, tokens } from './helpers'

afterEach(() => {
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

const entry = (id: string, actor: string) => ({
  id, tenant_id: 't1', actor_id: 'u-' + actor, actor_name: actor, action: 'user.update', object_type: 'user', object_id: 'u9',
  details: {}, remote_addr: '127.0.0.1', request_id: 'r', created_at: '2026-01-01T00:00:00Z',
})

function type(selector: string, value: string) {
  const el = document.querySelector<HTMLInputElement>(`input[data-test=${selector}], [data-test=${selector}] input`)!
  el.value = value
  el.dispatchEvent(new Event('input'))
}

describe('audit log', () => {
  it('sends the filters to the server, debounced, and shows what it answers', { timeout: 30_000 }, async () => {
    const { pinia, i18n } = setup()
    const f = stubFetch({
      'GET /api/audit': ({ url }) => ({ body: url.includes('actor=') ? [entry('e2', 'bob')] : [entry('e1', 'alice'), entry('e2', 'bob')] }),
    })
    const auth = useAuthStore()
    auth.setTokens(tokens(1))
    auth.me = me(['tenant_admin']) as never
    mount(AuditView, { attachTo: document.body, global: { plugins: [pinia, i18n], directives: { loading: {} } } })
    await flush()
    const audits = () => f.calls.filter((c) => c.url.includes('/api/audit'))
    expect(audits()).toHaveLength(1)
    expect(document.body.textContent).toContain('alice')

    type('audit-actor', 'bo')
    await flush()
    type('audit-actor', 'bob')
    type('audit-target', 'config/svc/key')
    await flush()
    expect(audits()).toHaveLength(1) // not yet: debounced
    await new Promise((r) => setTimeout(r, 400))
    await flush()
    expect(audits()).toHaveLength(2)
    const q = new URL(audits()[1].url, 'http://x').searchParams
    expect(q.get('actor')).toBe('bob')
    expect(q.get('object_type')).toBe('config')
    expect(q.get('object_id')).toBe('svc/key')
    expect(q.has('action')).toBe(false) // empty filters are left out: the server refuses empty values
    expect(document.body.textContent).not.toContain('alice')
    expect(document.body.textContent).toContain('bob')
  })
})
