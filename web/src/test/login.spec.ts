import { describe, expect, it } from 'vitest'
import { safeRedirect } from '../router'

describe('the login page\'s redirect', () => {
  it('goes back to a page of the console', () => {
    expect(safeRedirect('/services?tag=a')).toBe('/services?tag=a')
    expect(safeRedirect('/')).toBe('/')
  })

  it('never leaves the console', () => {
    for (const r of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', '', undefined, ['/a']]) {
      expect(safeRedirect(r)).toBe('/')
    }
  })
})
