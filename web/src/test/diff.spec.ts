import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import DiffView from '../components/DiffView.vue'
import { changedOnly, diffRows, parseJSON } from '../diffrows'
import { setup } from './helpers'

const oldText = JSON.stringify({ a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 }, null, 2)
const newText = JSON.stringify({ a: 1, b: 2, c: 30, d: 4, e: 5, f: 6, g: 7, h: 8 }, null, 2)

describe('diff rows', () => {
  it('pairs old (left) with new (right)', () => {
    const rows = diffRows(oldText, newText)
    const changed = rows.filter((r) => r.left.kind !== 'same' || r.right.kind !== 'same')
    expect(changed[0].left).toMatchObject({ kind: 'del', text: '  "c": 3,' })
    expect(changed[0].right).toMatchObject({ kind: 'add', text: '  "c": 30,' })
    expect(rows.at(-1)!.left.text).toBe('}')
  })

  it('keeps only the changed lines with context', () => {
    const rows = changedOnly(diffRows(oldText, newText), 1)
    expect(rows).toContain(null)
    expect(rows.filter((r) => r !== null).length).toBeLessThan(diffRows(oldText, newText).length)
  })

  it('validates JSON', () => {
    expect(parseJSON('{"a":1}')).toEqual({ ok: true, value: { a: 1 } })
    expect(parseJSON('{a:1}').ok).toBe(false)
  })
})

describe('DiffView', () => {
  it('renders the old value on the left and the new on the right', () => {
    const { i18n } = setup()
    const w = mount(DiffView, { props: { old: '{\n  "pool": 5\n}', new: '{\n  "pool": 6\n}' }, global: { plugins: [i18n] } })
    const old = w.findAll('[data-side=old].del').map((x) => x.text())
    const neu = w.findAll('[data-side=new].add').map((x) => x.text())
    expect(old).toEqual(['"pool": 5'])
    expect(neu).toEqual(['"pool": 6'])
  })

  it('says so when nothing changed', () => {
    const { i18n } = setup('zh-CN')
    const w = mount(DiffView, { props: { old: '1', new: '1' }, global: { plugins: [i18n] } })
    expect(w.find('[data-test=diff-same]').text()).toContain('值没有变化')
  })
})
