// Permission codes the console shows menus and buttons by. GET /api/auth/me
// lists the caller's; when core does not send them (an older core), they
// are derived from the roles with the same rules core's RBAC applies.

export const ALL_PERMISSIONS = [
  'dashboard:read', 'services:read', 'services:deregister', 'services:enable',
  'tenants:read', 'tenants:write', 'users:read', 'users:write', 'keys:read', 'keys:write',
  'config:read', 'config:write', 'config:write_global', 'audit:read', 'traffic:read',
] as const

export type Permission = (typeof ALL_PERMISSIONS)[number]

const TENANT_ADMIN_DENIED: Permission[] = ['tenants:write', 'config:write_global', 'services:deregister']
const USER_PERMISSIONS: Permission[] = ['dashboard:read', 'config:read']

/** permissionsForRoles is the fallback when /api/auth/me has no permissions. */
export function permissionsForRoles(roles: readonly string[]): Permission[] {
  if (roles.includes('super_admin')) return [...ALL_PERMISSIONS]
  if (roles.includes('tenant_admin')) return ALL_PERMISSIONS.filter((p) => !TENANT_ADMIN_DENIED.includes(p))
  if (roles.includes('user')) return [...USER_PERMISSIONS]
  return []
}

/** roleNeeded names the least role that holds a permission (for the 403 page). */
export function roleNeeded(perm: string): string {
  if ((TENANT_ADMIN_DENIED as string[]).includes(perm)) return 'super_admin'
  if ((USER_PERMISSIONS as string[]).includes(perm)) return 'user'
  return 'tenant_admin'
}

/**
 * keyScopeSuggestions lists the scopes offered when creating an API key:
 * core:admin (the key acts with its user's role) to anyone, the registry's
 * only to a super_admin, as core refuses them from anyone else.
 */
export function keyScopeSuggestions(superAdmin: boolean): string[] {
  return superAdmin ? ['core:admin', 'registry:read', 'registry:write'] : ['core:admin']
}
