import { describe, expect, it } from 'vitest'
import { menuRoutes } from '../router'
import { keyScopeSuggestions, permissionsForRoles, roleNeeded } from '../permissions'
import { useAuthStore } from '../stores/auth'
import { me, setup } from './helpers'

const names = (can: (p?: string) => boolean) => menuRoutes(can).map((r) => r.name)

describe('permission-driven menus', () => {
  it('shows a user only the dashboard, configuration and profile', () => {
    setup()
    const auth = useAuthStore()
    auth.me = me(['user']) as never
    expect(names(auth.can)).toEqual(['dashboard', 'config', 'profile'])
  })

  it('shows a tenant_admin everything but nothing needs tenants:write to see', () => {
    setup()
    const auth = useAuthStore()
    auth.me = me(['tenant_admin']) as never
    expect(names(auth.can)).toEqual(['dashboard', 'services', 'config', 'keys', 'users', 'tenants', 'audit', 'profile'])
    expect(auth.can('services:deregister')).toBe(false)
    expect(auth.can('config:write_global')).toBe(false)
  })

  it('follows the permissions core sends over the role rules', () => {
    setup()
    const auth = useAuthStore()
    auth.me = me(['tenant_admin'], ['dashboard:read', 'keys:read']) as never
    expect(names(auth.can)).toEqual(['dashboard', 'keys', 'profile'])
  })

  it('derives permissions from roles', () => {
    expect(permissionsForRoles(['super_admin'])).toContain('tenants:write')
    expect(permissionsForRoles([])).toEqual([])
    expect(roleNeeded('tenants:write')).toBe('super_admin')
    expect(roleNeeded('users:read')).toBe('tenant_admin')
    expect(roleNeeded('config:read')).toBe('user')
  })
})

describe('API key scope suggestions', () => {
  it('offers the registry scopes to a super_admin only (core refuses them from others)', () => {
    expect(keyScopeSuggestions(true)).toEqual(['core:admin', 'registry:read', 'registry:write'])
    expect(keyScopeSuggestions(false)).toEqual(['core:admin'])
  })
})
