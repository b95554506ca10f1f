// An SSE client over fetch and a ReadableStream: EventSource cannot send an
// Authorization header, which the registry and config watches need. It
// parses the text/event-stream format, resumes with Last-Event-ID (the
// registry's revisions), honours `retry:`, and reconnects until stopped.
import { authorizedFetch } from './http'
import { ApiError, toProblem } from './problem'

export interface SSEMessage {
  id?: string
  event: string
  data: string
}

/** createParser returns a function fed with text chunks that emits complete events. */
export function createParser(onMessage: (m: SSEMessage) => void, onRetry?: (ms: number) => void) {
  let buf = ''
  let data: string[] = []
  let event = ''
  let id: string | undefined
  const dispatch = () => {
    if (data.length > 0) onMessage({ id, event: event || 'message', data: data.join('\n') })
    data = []
    event = ''
    id = undefined
  }
  return (chunk: string) => {
    buf += chunk
    let nl: number
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1))
      if (line === '') {
        dispatch()
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'data') data.push(value)
      else if (field === 'event') event = value
      else if (field === 'id') id = value
      else if (field === 'retry' && /^\d+$/.test(value)) onRetry?.(Number(value))
    }
  }
}

export interface StreamOptions {
  /** url returns the URL to (re)connect to, given the last event id seen. */
  url: (lastEventId: string | undefined) => string
  onMessage: (m: SSEMessage) => void
  onOpen?: () => void
  onError?: (e: unknown) => void
}

export interface Stream {
  close(): void
}

/** openStream follows an event stream until close() is called. */
export function openStream(opts: StreamOptions): Stream {
  const ctrl = new AbortController()
  let lastId: string | undefined
  let retry = 1000
  const run = async () => {
    while (!ctrl.signal.aborted) {
      try {
        const headers: Record<string, string> = { Accept: 'text/event-stream' }
        if (lastId) headers['Last-Event-ID'] = lastId
        const res = await authorizedFetch(opts.url(lastId), { headers, signal: ctrl.signal })
        if (!res.ok || !res.body) throw new ApiError(res.status, await toProblem(res))
        opts.onOpen?.()
        const feed = createParser(
          (m) => {
            if (m.id) lastId = m.id
            opts.onMessage(m)
          },
          (ms) => (retry = ms),
        )
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          feed(value)
        }
      } catch (e) {
        if (ctrl.signal.aborted) return
        opts.onError?.(e)
        // Credentials that no longer work will not start working by retrying.
        if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) return
      }
      await new Promise((r) => setTimeout(r, retry))
    }
  }
  void run()
  return { close: () => ctrl.abort() }
}
