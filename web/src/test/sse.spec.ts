import { describe, expect, it } from 'vitest'
import { createParser, type SSEMessage } from '../api/sse'
import { queryCatalog, groupInstances } from '../catalog'
import en from '../i18n/en'
import zh from '../i18n/zh-CN'
import { detectLocale } from '../i18n'
import type { Instance } from '../api/types'

describe('SSE parser', () => {
  it('parses ids, events, multi-line data, comments, retry and CRLF across chunks', () => {
    const got: SSEMessage[] = []
    let retry = 0
    const feed = createParser((m) => got.push(m), (ms) => (retry = ms))
    feed('retry: 1000\n\n: keep-alive\n\nid: 7\nevent: regis')
    feed('tered\ndata: {"a":\ndata: 1}\n\r\nevent: reconnect\r\ndata: {}\r\n\r\n')
    expect(retry).toBe(1000)
    expect(got).toEqual([
      { id: '7', event: 'registered', data: '{"a":\n1}' },
      { id: undefined, event: 'reconnect', data: '{}' },
    ])
  })
})

const inst = (name: string, health: Instance['health'], extra: Partial<Instance> = {}): Instance => ({
  id: Math.random().toString(36), name, display_name: name, version: '1.0.0', host: '127.0.0.1', port: 1, base_path: '', is_active: true,
  health, health_check_url: '', last_heartbeat: '2026-01-01T00:00:00Z', metadata: {}, tags: [], endpoints: [], created_at: '', updated_at: '', ...extra,
})

describe('catalog in the browser', () => {
  const items = groupInstances([
    inst('a', 'healthy'), inst('b', 'unhealthy'), inst('b', 'healthy', { version: '2.0.0', tags: ['blue'] }), inst('c', 'unhealthy'), inst('d', 'healthy', { is_active: false }),
  ])
  const q = { q: '', tag: '', version: '', sort: 'health' as const, order: 'asc' as const, limit: 50, offset: 0 }
  it('puts unhealthy services first and counts instances', () => {
    const c = queryCatalog(items, q)
    expect(c.items.map((i) => i.name)).toEqual(['c', 'b', 'a'])
    expect(c.items[1]).toMatchObject({ instances: 2, healthy: 1, versions: ['1.0.0', '2.0.0'], tags: ['blue'] })
  })
  it('filters and pages', () => {
    expect(queryCatalog(items, { ...q, tag: 'blue' }).items.map((i) => i.name)).toEqual(['b'])
    expect(queryCatalog(items, { ...q, version: '1.0.0', sort: 'name' }).items.map((i) => i.name)).toEqual(['a', 'b', 'c'])
    const p = queryCatalog(items, { ...q, sort: 'name', limit: 2, offset: 2 })
    expect([p.total, p.items.map((i) => i.name)]).toEqual([3, ['c']])
  })
})

describe('i18n', () => {
  const keys = (o: object, p = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' ? keys(v, `${p}${k}.`) : [`${p}${k}`]))
  it('has the same keys in both languages', () => {
    expect(keys(zh).sort()).toEqual(keys(en).sort())
  })
  it('picks the browser language first, the stored choice over it', () => {
    expect(detectLocale(null, ['zh-TW', 'en'])).toBe('zh-CN')
    expect(detectLocale(null, ['de-DE', 'en-US'])).toBe('en')
    expect(detectLocale('en', ['zh-CN'])).toBe('en')
  })
})
