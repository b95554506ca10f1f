// The services catalog: GET /api/registry/catalog when the registry has it
// (server-side search, filters, sort and paging), otherwise the same built
// in the browser from the instance list, so an older registry still works.
import { api, isNotFound } from './api/http'
import type { Catalog, CatalogItem, Instance } from './api/types'

export interface CatalogQuery {
  q: string
  tag: string
  version: string
  sort: 'health' | 'name' | 'instances'
  order: 'asc' | 'desc'
  limit: number
  offset: number
}

/** groupInstances folds active instances into one catalog item per service. */
export function groupInstances(instances: Iterable<Instance>): CatalogItem[] {
  const by = new Map<string, CatalogItem>()
  for (const i of instances) {
    if (!i.is_active) continue
    let it = by.get(i.name)
    if (!it) by.set(i.name, (it = { name: i.name, instances: 0, healthy: 0, versions: [], tags: [], last_heartbeat: i.last_heartbeat }))
    it.instances++
    if (i.health !== 'unhealthy') it.healthy++ // routable: healthy, or not probed (unknown), as the gateway treats it
    if (i.version && !it.versions.includes(i.version)) it.versions.push(i.version)
    for (const t of i.tags ?? []) if (!it.tags.includes(t)) it.tags.push(t)
    if (i.last_heartbeat > it.last_heartbeat) it.last_heartbeat = i.last_heartbeat
  }
  for (const it of by.values()) {
    it.versions.sort()
    it.tags.sort()
  }
  return [...by.values()]
}

/** unhealthyShare orders services by health: the most unhealthy first. */
function unhealthyShare(i: CatalogItem): number {
  return i.instances === 0 ? 1 : (i.instances - i.healthy) / i.instances
}

/** queryCatalog applies a CatalogQuery in the browser, as the registry would. */
export function queryCatalog(items: CatalogItem[], q: CatalogQuery): Catalog {
  const needle = q.q.trim().toLowerCase()
  let out = items.filter((i) =>
    (!needle || i.name.toLowerCase().includes(needle)) &&
    (!q.tag || i.tags.includes(q.tag)) &&
    (!q.version || i.versions.includes(q.version)))
  const dir = q.order === 'desc' ? -1 : 1
  const byName = (a: CatalogItem, b: CatalogItem) => a.name.localeCompare(b.name)
  out = out.sort((a, b) => {
    let c = 0
    if (q.sort === 'instances') c = (a.instances - b.instances) * dir
    else if (q.sort === 'name') c = byName(a, b) * dir
    else c = (unhealthyShare(b) - unhealthyShare(a)) * (q.order === 'desc' ? -1 : 1)
    return c || byName(a, b)
  })
  return { items: out.slice(q.offset, q.offset + q.limit), total: out.length, limit: q.limit, offset: q.offset }
}

let missing = false

/** catalogMissing tells whether the registry answered that it has no catalog (asked once per page load). */
export function catalogMissing(): boolean {
  return missing
}

/** fetchCatalog asks the registry; null means it has no catalog endpoint. */
export async function fetchCatalog(q: CatalogQuery, signal?: AbortSignal): Promise<Catalog | null> {
  if (missing) return null
  try {
    return await api.get<Catalog>('/api/registry/catalog', { ...q }, signal)
  } catch (e) {
    if (isNotFound(e)) {
      missing = true
      return null
    }
    throw e
  }
}
