// Routes carry the permission they need (meta.perm) and their menu title
// (meta.titleKey); the menu is these routes filtered by the caller's
// permissions, and the guard sends anyone else to the 403 page.
import { createRouter, createWebHistory, type RouteRecordRaw, type Router } from 'vue-router'
import { useAuthStore } from './stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    perm?: string
    titleKey?: string
    public?: boolean
    icon?: string
    menu?: boolean
  }
}

export const appRoutes: RouteRecordRaw[] = [
  { path: '', name: 'dashboard', component: () => import('./views/DashboardView.vue'), meta: { perm: 'dashboard:read', titleKey: 'nav.dashboard', icon: 'Odometer', menu: true } },
  { path: 'services', name: 'services', component: () => import('./views/ServicesView.vue'), meta: { perm: 'services:read', titleKey: 'nav.services', icon: 'Connection', menu: true } },
  { path: 'services/:name/versions', name: 'service-versions', component: () => import('./views/VersionsView.vue'), meta: { perm: 'services:read', titleKey: 'gray.menu' } },
  { path: 'config', name: 'config', component: () => import('./views/ConfigView.vue'), meta: { perm: 'config:read', titleKey: 'nav.config', icon: 'Setting', menu: true } },
  { path: 'keys', name: 'keys', component: () => import('./views/ApiKeysView.vue'), meta: { perm: 'keys:read', titleKey: 'nav.keys', icon: 'Key', menu: true } },
  { path: 'users', name: 'users', component: () => import('./views/UsersView.vue'), meta: { perm: 'users:read', titleKey: 'nav.users', icon: 'User', menu: true } },
  { path: 'tenants', name: 'tenants', component: () => import('./views/TenantsView.vue'), meta: { perm: 'tenants:read', titleKey: 'nav.tenants', icon: 'OfficeBuilding', menu: true } },
  { path: 'audit', name: 'audit', component: () => import('./views/AuditView.vue'), meta: { perm: 'audit:read', titleKey: 'nav.audit', icon: 'Document', menu: true } },
  { path: 'profile', name: 'profile', component: () => import('./views/ProfileView.vue'), meta: { titleKey: 'nav.profile', icon: 'Avatar', menu: true } },
  { path: '403', name: 'forbidden', component: () => import('./views/ForbiddenView.vue') },
  { path: ':rest(.*)*', name: 'notfound', component: () => import('./views/NotFoundView.vue') },
]

export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
  { path: '/', component: () => import('./layout/AppLayout.vue'), children: appRoutes },
]

/** menuRoutes are the menu entries the permissions allow, in order. */
/**
 * safeRedirect is where the login page may send the caller back to: a path
 * of the console's own, never one a browser could read as another origin
 * ("//host", "/\host"); anything else is "/".
 */
export function safeRedirect(r: unknown): string {
  return typeof r === 'string' && /^\/(?![/\\])/.test(r) ? r : '/'
}

export function menuRoutes(can: (perm?: string) => boolean): RouteRecordRaw[] {
  return appRoutes.filter((r) => r.meta?.menu && can(r.meta.perm))
}

export function makeRouter(): Router {
  const router = createRouter({ history: createWebHistory(import.meta.env.BASE_URL), routes })
  const auth = useAuthStore()
  auth.setOnExpired(() => {
    const current = router.currentRoute.value
    if (current.name !== 'login') void router.push({ name: 'login', query: { redirect: current.fullPath, expired: '1' } })
  })
  router.beforeEach(async (to) => {
    if (to.meta.public) return true
    if (!auth.loggedIn) return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
    if (!auth.me) {
      try {
        await auth.loadMe()
      } catch {
        if (!auth.loggedIn) return { name: 'login', query: { redirect: to.fullPath } }
      }
    }
    if (to.meta.perm && !auth.can(to.meta.perm)) {
      // The dashboard is the landing page; a user without it goes to their profile.
      if (to.name === 'dashboard') return { name: 'profile' }
      return { name: 'forbidden', query: { need: to.meta.perm, from: to.fullPath } }
    }
    return true
  })
  return router
}
