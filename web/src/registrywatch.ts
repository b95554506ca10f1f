// Following the registry's change feed (/api/registry/watch): a snapshot
// of every active instance, then one event per change, resumed by revision.
import { openStream, type Stream } from './api/sse'
import { withQuery } from './api/http'
import type { Instance, RegistryEvent } from './api/types'

export interface RegistryHandlers {
  onSnapshot?: (instances: Instance[], revision: number) => void
  onEvent?: (e: RegistryEvent) => void
  onState?: (live: boolean) => void
  onError?: (e: unknown) => void
}

/** watchRegistry follows the feed from revision (none: starting with a snapshot). */
export function watchRegistry(h: RegistryHandlers, revision?: number): Stream {
  return openStream({
    url: (last) => withQuery('/api/registry/watch', { revision: last ?? revision }),
    onOpen: () => h.onState?.(true),
    onError: (e) => {
      h.onState?.(false)
      h.onError?.(e)
    },
    onMessage: (m) => {
      if (m.event === 'reconnect' || m.event === 'message') return
      let data: unknown
      try {
        data = JSON.parse(m.data)
      } catch {
        return
      }
      if (m.event === 'snapshot') {
        const s = data as { revision: number; instances: Instance[] }
        h.onSnapshot?.(s.instances ?? [], s.revision)
      } else {
        h.onEvent?.(data as RegistryEvent)
      }
    },
  })
}

/** applyEvent updates an instance map with one event. */
export function applyEvent(map: Map<string, Instance>, e: RegistryEvent) {
  if (!e.instance) return
  if (e.instance.is_active && e.type !== 'deregistered' && e.type !== 'expired') map.set(e.instance.id, e.instance)
  else map.delete(e.instance.id)
}
