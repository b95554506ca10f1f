// Console benchmark (not a test): against the real stack (e2e/stack.mjs)
// it measures
//   1. the gzip size of the JS and CSS the browser loads for the login page
//      and for the dashboard (after login, cold cache);
//   2. the time from navigating to /services (a page load, and a click in
//      the menu) to a rendered services table, with N instances registered
//      (default 2000, BENCH_INSTANCES).
// Run: make build && node web/bench/console.mjs
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import { repo, startStack } from '../e2e/stack.mjs'

const N = Number(process.env.BENCH_INSTANCES ?? 2000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const stack = await startStack()
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
})
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

try {
  // 1. Bytes loaded, gzip-compressed as the gateway's `encode gzip` sends them.
  const context = await browser.newContext({ locale: 'en', reducedMotion: 'reduce' })
  const page = await context.newPage()
  const loaded = new Set()
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (/\.(js|css)$/.test(u.pathname)) loaded.add(u.pathname)
  })
  const gz = () => [...loaded].reduce((n, p) => n + gzipSync(readFileSync(join(repo, 'web', 'dist', p))).length, 0)
  await page.goto(stack.url + '/login')
  await page.locator('input[data-test=username]').waitFor()
  const login = gz()
  await page.locator('input[data-test=username]').fill('admin')
  await page.locator('input[data-test=password]').fill(stack.password)
  await page.locator('[data-test=login-submit]').click()
  await page.locator('[data-test=dashboard]').waitFor()
  loaded.clear()
  const session = await page.evaluate(() => localStorage.getItem('plugboard.session'))
  await context.close()
  const c2 = await browser.newContext({ locale: 'en', reducedMotion: 'reduce' })
  await c2.addInitScript((s) => localStorage.setItem('plugboard.session', s), session)
  const p2 = await c2.newPage()
  p2.on('request', (r) => {
    const u = new URL(r.url())
    if (/\.(js|css)$/.test(u.pathname)) loaded.add(u.pathname)
  })
  await p2.goto(stack.url + '/')
  await p2.locator('[data-test=dashboard]').waitFor()
  await p2.waitForTimeout(500)
  const dashboard = gz()
  console.log(`login page JS+CSS: ${(login / 1024).toFixed(1)} KB gzip`)
  console.log(`dashboard JS+CSS:  ${(dashboard / 1024).toFixed(1)} KB gzip`)

  // 2. N instances: N/5 services of five instances each.
  const t0 = Date.now()
  const names = Math.max(1, Math.floor(N / 5))
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < N) {
      const i = next++
      const res = await fetch(stack.registryURL + '/api/registry/register', {
        method: 'POST', headers: { Authorization: `Bearer ${stack.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: `svc-${String(i % names).padStart(4, '0')}`, host: '127.0.0.1', port: 20000 + i, version: `1.${i % 3}.0`, tags: [`t${i % 7}`] }),
      })
      if (!res.ok) throw new Error(`register ${i}: ${res.status} ${await res.text()}`)
    }
  }))
  console.log(`registered ${N} instances of ${names} services in ${Date.now() - t0} ms`)
  const times = []
  let mode = ''
  for (let r = 0; r < RUNS; r++) {
    await p2.goto(stack.url + '/')
    await p2.locator('[data-test=dashboard]').waitFor()
    const start = Date.now()
    await p2.goto(stack.url + '/services')
    await p2.locator('[data-test=service-name]').first().waitFor({ timeout: 30_000 })
    times.push(Date.now() - start)
    mode = (await p2.locator('[data-test=services]').getAttribute('data-mode')) === 'catalog' ? 'server-side catalog' : 'browser-side catalog from the watch snapshot'
  }
  console.log(`/services table rendered after a page load (${mode}): median ${median(times)} ms over ${RUNS} runs [${times.join(', ')}]`)
  // The same through the menu (the app already loaded, as a user clicks).
  const spa = []
  const apiTimes = [] // the catalog request (or the watch snapshot) alone
  for (let r = 0; r < RUNS; r++) {
    await p2.goto(stack.url + '/profile')
    await p2.locator('[data-test=profile]').waitFor()
    const start = Date.now()
    await p2.locator('[data-test=menu] .el-menu-item', { hasText: 'Services' }).click()
    await p2.locator('[data-test=service-name]').first().waitFor({ timeout: 30_000 })
    spa.push(Date.now() - start)
    const api = await p2.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => /\/api\/registry\/(catalog|watch)/.test(e.name)).map((e) => Math.round(e.responseEnd > 0 ? e.responseEnd - e.startTime : 0)))
    apiTimes.push(Math.max(0, ...api.filter((x) => x > 0 && x < 30_000)))
  }
  console.log(`/services table rendered from the menu: median ${median(spa)} ms over ${RUNS} runs [${spa.join(', ')}]; of which the registry request: median ${median(apiTimes)} ms`)
} finally {
  await browser.close()
  await stack.stop()
}
