// Shapes of the Plugboard APIs the console reads (core/httpapi/openapi.json,
// registry/httpapi/openapi.json).

export interface Tokens {
  access_token: string
  refresh_token: string
  token_type: string
  expires_in: number
}

export interface User {
  id: string
  tenant_id: string
  username: string
  email: string
  role: string
  is_active: boolean
  created_at: string
  updated_at: string
  last_login: string | null
}

export interface Tenant {
  id: string
  name: string
  display_name: string
  config: Record<string, unknown>
  enabled_services: string[]
  is_active: boolean
  created_at: string
  updated_at: string
}

export interface Me {
  user: User
  tenant: Tenant
  roles: string[]
  permissions?: string[]
}

export interface APIKey {
  id: string
  tenant_id: string
  user_id?: string
  name: string
  prefix: string
  scopes: string[]
  expires_at: string | null
  last_used: string | null
  revoked_at: string | null
  created_at: string
}

export interface Endpoint {
  path: string
  method: string
  description: string
  required_roles: string[]
  is_public: boolean
  rate_limit?: unknown
}

export interface Instance {
  id: string
  name: string
  display_name: string
  version: string
  host: string
  port: number
  base_path: string
  is_active: boolean
  health: 'unknown' | 'healthy' | 'unhealthy'
  health_check_url: string
  last_heartbeat: string
  metadata: Record<string, unknown>
  tags: string[]
  endpoints: Endpoint[]
  created_at: string
  updated_at: string
}

export interface RegistryEvent {
  revision: number
  type: string
  at: string
  instance?: Instance // in the watch's events
  health?: string // in an instance's history (GET /api/registry/services/{id}/events)
  is_active?: boolean
  version?: string
}

export interface CatalogItem {
  name: string
  instances: number
  healthy: number
  versions: string[]
  tags: string[]
  last_heartbeat: string
}

export interface Catalog {
  items: CatalogItem[]
  total: number
  limit: number
  offset: number
  revision?: number
}

export interface ConfigAuthor {
  id: string
  name: string
}

export interface ConfigEntry {
  scope: 'global' | 'tenant'
  tenant_id: string
  service: string
  key: string
  value: unknown
  version: number
  created_at: string
  updated_at: string
  updated_by: ConfigAuthor
}

export interface ConfigVersion {
  version: number
  deleted: boolean
  value: unknown
  author: ConfigAuthor
  comment: string
  created_at: string
}

export interface AuditEntry {
  id: string
  tenant_id: string
  actor_id: string
  actor_name: string
  action: string
  object_type: string
  object_id: string
  details: Record<string, unknown> | null
  remote_addr: string
  request_id: string
  created_at: string
}

export interface TrafficFigures {
  requests: number
  errors_4xx: number
  errors_5xx: number
  rps: number
  error_rate: number
  p50_ms: number
  p99_ms: number
}

export interface TrafficPoint {
  t: string
  requests: number
  errors_4xx: number
  errors_5xx: number
  p50_ms: number
  p99_ms: number
}

export interface Traffic {
  from: string
  to: string
  step_seconds: number
  scope: 'cluster' | 'local'
  totals: TrafficFigures
  services: (TrafficFigures & { service: string; series: TrafficPoint[]; versions?: TrafficVersion[] })[]
}

/** one version's figures in a report asked with by=version ('' for none) */
export interface TrafficVersion extends TrafficFigures {
  version: string
  share: number
}
