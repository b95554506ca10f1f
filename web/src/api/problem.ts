// ApiError carries an RFC 9457 problem (application/problem+json) from any
// Plugboard API, so every failure can show its `detail`.

export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  instance?: string
  errors?: Record<string, string>
}

export class ApiError extends Error {
  readonly status: number
  readonly problem: Problem
  constructor(status: number, problem: Problem) {
    super(problemMessage(status, problem))
    this.name = 'ApiError'
    this.status = status
    this.problem = problem
  }
}

/** problemMessage is the text shown for a problem: detail, then each bad field. */
export function problemMessage(status: number, p: Problem): string {
  let msg = p.detail || p.title || `HTTP ${status}`
  if (p.errors && Object.keys(p.errors).length > 0) {
    msg += ' ' + Object.entries(p.errors).map(([k, v]) => `${k}: ${v}`).join('; ')
  }
  return msg
}

/** toProblem reads a failed response's body as a problem, whatever it holds. */
export async function toProblem(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '')
  try {
    const p = JSON.parse(text)
    if (p && typeof p === 'object') return p as Problem
  } catch {
    /* not JSON */
  }
  // An HTML error page (a proxy in front of the gateway) is no message to
  // show: the status line is.
  const html = /html/i.test(res.headers.get('content-type') ?? '') || text.trimStart().startsWith('<')
  return { status: res.status, title: `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`, detail: html ? undefined : text.trim().slice(0, 300) || undefined }
}
