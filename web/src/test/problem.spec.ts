import { describe, expect, it } from 'vitest'
import { ApiError, toProblem } from '../api/problem'

const message = async (res: Response) => new ApiError(res.status, await toProblem(res)).message

describe('toProblem', () => {
  it('shows a problem\'s detail', async () => {
    const res = new Response(JSON.stringify({ title: 'Conflict', status: 409, detail: 'A tenant named "acme" already exists.' }),
      { status: 409, headers: { 'Content-Type': 'application/problem+json' } })
    expect(await message(res)).toBe('A tenant named "acme" already exists.')
  })

  it('shows a plain-text body, but never an HTML page', async () => {
    expect(await message(new Response('upstream timed out', { status: 504, statusText: 'Gateway Timeout' }))).toBe('upstream timed out')
    const html = new Response('<html><body><h1>502 Bad Gateway</h1></body></html>', { status: 502, statusText: 'Bad Gateway', headers: { 'Content-Type': 'text/html' } })
    expect(await message(html)).toBe('HTTP 502 Bad Gateway')
    expect(await message(new Response('', { status: 500 }))).toBe('HTTP 500')
  })
})
