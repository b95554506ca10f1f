// End-to-end tests of the admin console in a real browser (Debian's
// chromium driven by playwright-core) against the real stack: bin/plugboard
// run serving web/dist, plus the example plugin hello-go. Screenshots of
// every page, in zh-CN and en (dark too for two), go to the folder printed
// at the start (E2E_SCREENSHOTS, default web/e2e/screenshots).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'
import { startStack } from './stack.mjs'

const shots = resolve(process.env.E2E_SCREENSHOTS ?? join(import.meta.dirname, 'screenshots'))
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium'
let stack, browser, context, page
const problems = [] // CSP violations, page errors

before(async () => {
  mkdirSync(shots, { recursive: true })
  console.log(`# screenshots: ${shots}`)
  stack = await startStack({ log: !!process.env.E2E_LOG })
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
  context = await browser.newContext({ locale: 'zh-CN', reducedMotion: 'reduce', viewport: { width: 1360, height: 860 } })
  context.setDefaultTimeout(20_000)
  page = await context.newPage()
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(String(e)))
  // Until the gateway serves traffic statistics (GET /api/gateway/traffic
  // answers 404 and the dashboard hides the widget), answer it from a
  // fixture of the documented shape so the chart is drawn and screenshotted.
  const probe = await fetch(stack.url + '/api/gateway/traffic?window=1h')
  if (probe.status === 404) {
    console.log('# /api/gateway/traffic is 404 here: the dashboard chart is drawn from a fixture')
    await context.route('**/api/gateway/traffic?*', (route) => route.fulfill({ json: trafficFixture() }))
  }
})

// sendTraffic calls the hello plugin through the gateway, so that the
// dashboard draws the gateway's real traffic figures.
async function sendTraffic() {
  for (let i = 0; i < 40; i++) {
    const r = await fetch(stack.url + (i % 10 === 9 ? '/api/hello/nope' : '/api/hello/hello'))
    await r.arrayBuffer()
  }
}

function trafficFixture() {
  const to = Date.now()
  const step = 60
  const series = (base) => Array.from({ length: 60 }, (_, i) => ({
    t: new Date(to - (59 - i) * step * 1000).toISOString(),
    requests: Math.round(base * (1 + 0.3 * Math.sin(i / 6))), errors_4xx: 2, errors_5xx: i % 17 === 0 ? 1 : 0, p50_ms: 4, p99_ms: 40,
  }))
  const svc = (service, base) => ({ service, requests: base * 60, errors_4xx: 120, errors_5xx: 4, rps: base / step, error_rate: 124 / (base * 60), p50_ms: 4.2, p99_ms: 38.5, series: series(base) })
  const services = [svc('hello', 900), svc('orders', 600), svc('notes', 200)]
  return { from: new Date(to - 3600e3).toISOString(), to: new Date(to).toISOString(), step_seconds: step, scope: 'local',
    totals: { requests: 102000, errors_4xx: 360, errors_5xx: 12, rps: 28.3, error_rate: 0.0036, p50_ms: 4.2, p99_ms: 38.5 }, services }
}

after(async () => {
  await browser?.close()
  await stack?.stop()
})

const $ = (sel) => page.locator(sel)
const visibleDialog = () => page.locator('.el-dialog:visible, .el-message-box:visible').last()

/** settle waits until loading masks are gone and popups have finished moving. */
async function settle() {
  await page.waitForFunction(() => !document.querySelector('.el-loading-mask:not([style*="display: none"])'))
  await page.waitForTimeout(250)
}

async function shot(name) {
  await settle()
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

async function pick(selectSel, optionText) {
  await page.locator(selectSel).first().click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: optionText }).first().click()
}

/** typeInto types into a (filterable, allow-create) select and takes the typed value. */
async function typeInto(selectSel, text) {
  await page.locator(selectSel).first().click()
  await page.keyboard.type(text)
  await page.keyboard.press('Enter')
}

async function login(tenant, username, password) {
  await page.goto(stack.url + '/login')
  await $('input[data-test=tenant]').fill(tenant)
  await $('input[data-test=username]').fill(username)
  await $('input[data-test=password]').fill(password)
  await $('[data-test=login-submit]').click()
}

async function logout() {
  await $('[data-test=user-menu]').click()
  await page.locator('.el-dropdown-menu__item:visible', { hasText: /退出登录|Log out/ }).click()
  await $('input[data-test=username]').waitFor()
}

const pages = ['dashboard', 'services', 'config', 'keys', 'users', 'tenants', 'audit', 'profile']
async function shootAll(prefix) {
  for (const p of pages) {
    await page.goto(stack.url + '/' + (p === 'dashboard' ? '' : p))
    await $(`[data-test=${p}]`).waitFor()
    if (p === 'dashboard') await $('[data-test=traffic-chart] canvas').waitFor()
    await shot(`${prefix}-${p}`)
  }
}

test('the console, end to end', async (t) => {
  await t.test('serves the shell uncached and assets immutable, under CSP', async () => {
    const deep = await fetch(stack.url + '/services/deep/link')
    assert.equal(deep.status, 200)
    assert.equal(deep.headers.get('cache-control'), 'no-cache')
    assert.match(deep.headers.get('content-security-policy'), /script-src 'self'/)
    const html = await deep.text()
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)[1]
    const a = await fetch(stack.url + asset, { headers: { 'Accept-Encoding': 'gzip' } })
    assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable')
    assert.ok(['gzip', 'zstd'].includes(a.headers.get('content-encoding')), 'assets are compressed')
    const missing = await fetch(stack.url + '/assets/nope.js')
    assert.equal(missing.status, 404, 'a missing asset is not index.html')
    assert.doesNotMatch(missing.headers.get('cache-control') ?? '', /immutable|max-age/, 'a missing asset is not cached')
    assert.equal((await fetch(stack.url + '/api/nope')).status, 404)
  })

  await t.test('the super admin logs in (zh-CN) and is sent back to the page asked for', async () => {
    await page.goto(stack.url + '/services')
    await $('input[data-test=username]').waitFor()
    assert.match(page.url(), /\/login\?redirect=(%2F|\/)services/)
    await shot('zh-login')
    await $('input[data-test=username]').fill('admin')
    await $('input[data-test=password]').fill('wrong password')
    await $('[data-test=login-submit]').click()
    await $('[data-test=login-error]').waitFor()
    await $('input[data-test=password]').fill(stack.password)
    await $('[data-test=login-submit]').click()
    await $('[data-test=services]').waitFor()
    assert.match(await $('[data-test=services-empty]').innerText(), /还没有注册的服务/)
  })

  await t.test('a plugin appears in the services table within a second of registering', async () => {
    await $('[data-test=live]:has-text("实时")').waitFor()
    const plugin = await stack.plugin()
    const registered = (async () => {
      for (;;) {
        const r = await fetch(stack.registryURL + '/api/registry/services?name=hello', { headers: { Authorization: `Bearer ${stack.token}` } })
        if ((await r.json()).length > 0) return Date.now()
        await new Promise((ok) => setTimeout(ok, 20))
      }
    })()
    const shown = $('[data-test=service-name]:has-text("hello")').waitFor({ timeout: 30_000 }).then(() => Date.now())
    const [tReg, tRow] = await Promise.all([registered, shown])
    console.log(`# hello shown ${tRow - tReg} ms after the registry listed it`)
    assert.ok(tRow - tReg < 1000, `shown ${tRow - tReg} ms after registering`)
    assert.ok(plugin.pid)
    await $('[data-test=service-name]:has-text("hello")').click()
    await page.locator('[data-test=endpoints]:visible').first().waitFor()
    assert.match(await page.locator('.el-drawer:visible').innerText(), /\/whoami/)
    await shot('zh-service-detail')
    await page.keyboard.press('Escape')
  })

  await t.test('creates a tenant, a tenant_admin and a user', async () => {
    await page.goto(stack.url + '/tenants')
    await $('[data-test=tenant-new]').click()
    await $('input[data-test=tenant-name]').fill('acme')
    await $('input[data-test=tenant-display]').fill('艾克米公司')
    await typeInto('[data-test=tenant-services]', 'hello')
    await page.locator('.el-dialog:visible .el-dialog__title').click()
    await visibleDialog().locator('[data-test=tenant-submit]').click()
    await $('[data-test=tenants-table] >> text=艾克米公司').waitFor()

    await page.goto(stack.url + '/users')
    await pick('[data-test=users-tenant]', '艾克米公司')
    for (const [name, role] of [['ta', '租户管理员'], ['bob', '普通用户']]) {
      await $('[data-test=user-new]').click()
      await $('input[data-test=user-username]').fill(name)
      await $('input[data-test=user-password]').fill(`${name}-password-1`)
      await pick('[data-test=user-role]', role)
      await visibleDialog().locator('[data-test=user-submit]').click()
      await $(`[data-test=users-table] >> text=${name}`).waitFor()
    }
  })

  await t.test('versions and gray release: a service page shows versions and publishes routing rules', async () => {
    await page.goto(stack.url + '/services')
    await $('[data-test=service-name]:has-text("hello")').click()
    await page.locator('[data-test=open-versions]:visible').click()
    await $('[data-test=versions]').waitFor()
    await $('[data-test=rules-none]').waitFor()
    assert.match(await $('[data-test=version-rows]').innerText(), /1\.0\.0[\s\S]*1 \/ 1/)
    await $('input[data-test=rules-add-version]').fill('2.0.0')
    await page.keyboard.press('Enter')
    await $('[data-test="weight-2.0.0"] input').fill('10')
    await $('[data-test="weight-1.0.0"] input').fill('90')
    await typeInto('[data-test="tenants-2.0.0"]', '艾克米公司')
    await page.locator('[data-test=versions] h2').click()
    await $('input[data-test=rules-comment]').fill('canary 2.0.0 at 10 %')
    await $('[data-test=rules-save]').click()
    await $('[data-test=rules-version]').waitFor()
    assert.match(await $('[data-test=rules-version]').innerText(), /规则版本 1/)
    const rows = await $('[data-test=version-rows]').innerText()
    assert.match(rows, /90 \(90 %\)/)
    assert.match(rows, /10 \(10 %\)/)
    assert.match(rows, /2\.0\.0[\s\S]*0 \/ 0/)
    await shot('zh-service-versions')
    assert.match(rows, /艾克米公司/)
    // The gateway (plugboard run: core's feed token from the data directory) applies them:
    // 2.0.0 has no instance, so 1.0.0 serves everyone, and says when it stands in.
    const served = async (headers = {}) => {
      const r = await fetch(stack.url + '/api/hello/hello', { headers })
      await r.arrayBuffer()
      return [r.status, r.headers.get('x-plugboard-version'), r.headers.get('x-plugboard-version-fallback')]
    }
    for (let i = 0; ; i++) {
      const [status, version] = await served()
      if (status === 200 && version === '1.0.0') break
      assert.ok(i < 100, `the gateway never applied the rules: ${status} ${version}`)
      await new Promise((ok) => setTimeout(ok, 20))
    }
    assert.deepEqual(await served({ 'X-Plugboard-Version': '2.0.0' }), [200, '1.0.0', '2.0.0'])
    assert.deepEqual(await served({ 'X-Plugboard-Version': '1.0.0' }), [200, '1.0.0', null])
    // A bad value is refused by core where validation is wired (registry.ValidateRoutingJSON).
    await $('[data-test=rules-history]').click()
    await $('[data-test=config]').waitFor()
    await page.locator('.el-tabs__item.is-active:has-text("历史")').waitFor()
    await shot('zh-service-versions-history')
  })

  await t.test('versions: the live traffic split per version, beside the weights, and the rate limits', async () => {
    // A second hello instance at 2.0.0; 1.0.0 serves what the weights send it, 2.0.0 what is pinned to it.
    const v2 = await stack.plugin({ PLUGBOARD_SERVICE_NAME: 'hello', PLUGBOARD_SERVICE_VERSION: '2.0.0' })
    try {
      const get = async (headers = {}) => {
        const r = await fetch(stack.url + '/api/hello/hello', { headers })
        await r.arrayBuffer()
        return [r.status, r.headers.get('x-plugboard-version')]
      }
      for (let i = 0; ; i++) {
        const [status, version] = await get({ 'X-Plugboard-Version': '2.0.0' })
        if (status === 200 && version === '2.0.0') break
        assert.ok(i < 250, `2.0.0 never served: ${status} ${version}`)
        await new Promise((ok) => setTimeout(ok, 20))
      }
      for (let i = 0; i < 9; i++) assert.deepEqual(await get({ 'X-Plugboard-Version': '2.0.0' }), [200, '2.0.0'])
      for (let i = 0; i < 10; i++) assert.equal((await get({ 'X-Plugboard-Version': '1.0.0' }))[1], '1.0.0')
      await page.goto(stack.url + '/services/hello/versions')
      await $('[data-test=versions]').waitFor()
      await $('[data-test="split-2.0.0"]').waitFor()
      const rows = await $('[data-test=split-rows]').innerText()
      // 1.0.0 served the earlier requests too; 2.0.0 exactly the 10 pinned ones; the weights' shares beside them.
      assert.match(rows, /1\.0\.0[\s\S]*%[\s\S]*90 %/)
      assert.match(rows, /2\.0\.0[\s\S]*%[\s\S]*10 %\s+10\b/)
      assert.match(await $('[data-test=split-total]').innerText(), /\d+ 个请求/)
      assert.match(await $('[data-test=limit-rows]').innerText(), /没有接口声明限流/)
      await $('[data-test=split-window] >> text=最近 15 分钟').click()
      await $('[data-test="split-2.0.0"]').waitFor()
      await shot('zh-service-versions-split')
    } finally {
      v2.kill('SIGTERM')
    }
  })

  await t.test('creates an API key and sees its secret once', async () => {
    await page.goto(stack.url + '/keys')
    await $('[data-test=keys-empty]').waitFor()
    await $('[data-test=key-new]').click()
    await $('input[data-test=key-name]').fill('ci')
    await visibleDialog().locator('[data-test=key-create-submit]').click()
    const secretInput = $('input[data-test=key-secret]')
    await secretInput.waitFor()
    const secret = await secretInput.inputValue()
    assert.match(secret, /^pb_live_[0-9a-f]{8}_/)
    assert.ok(await $('[data-test=key-done]').isDisabled())
    await shot('zh-key-secret')
    await page.locator('[data-test=key-saved]:visible').click()
    await $('[data-test=key-done]').click()
    await secretInput.waitFor({ state: 'hidden' })
    await $('[data-test=keys-table] >> text=ci').waitFor()
    assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page')
    assert.match(await $('[data-test=keys-table]').innerText(), new RegExp(`pb_live_${secret.slice(8, 16)}_`))
  })

  await t.test('edits a config entry, reviews the diff before publishing, rolls back', async () => {
    await page.goto(stack.url + '/config')
    await $('[data-test=config-new]').click()
    await $('input[data-test=new-service]').fill('hello')
    await $('input[data-test=new-key]').fill('greeting')
    const editor = $('textarea[data-test=json-editor]')
    await editor.fill('{"text": "hi"')
    await $('[data-test=json-error]').waitFor()
    await editor.fill('{"text": "hi"}')
    await $('[data-test=config-review]').click()
    await visibleDialog().locator('[data-test=config-publish]').click()
    await $('[data-test=config-list] >> text=greeting').waitFor()
    await $('.el-tag:has-text("v1")').waitFor()

    await editor.fill('{"text": "hello", "lang": "en"}')
    await $('[data-test=config-review]').click()
    const dlg = visibleDialog()
    await dlg.locator('[data-side=old].del').first().waitFor()
    assert.deepEqual((await dlg.locator('[data-side=old].del').allInnerTexts()).map((s) => s.trim()), ['"text": "hi"'])
    assert.deepEqual((await dlg.locator('[data-side=new].add').allInnerTexts()).map((s) => s.trim()), ['"text": "hello",', '"lang": "en"'])
    await shot('zh-config-diff')
    await dlg.locator('[data-test=config-publish]').click()
    await $('.el-tag:has-text("v2")').waitFor()

    await page.locator('.el-tabs__item', { hasText: '历史版本' }).click()
    await $('[data-test=config-history] >> text=admin').first().waitFor()
    await shot('zh-config-history')
    await $('[data-test=config-rollback]').first().click()
    await page.locator('.el-message-box:visible .el-button--primary').click()
    await $('.el-tag:has-text("v3")').waitFor()
    assert.deepEqual(JSON.parse(await editor.inputValue()), { text: 'hi' })
  })

  await t.test('a write by someone else shows live, and a stale publish shows the newer version', async () => {
    await page.locator('.el-tabs__item', { hasText: '编辑' }).click()
    const editor = $('textarea[data-test=json-editor]')
    await editor.fill('{"text": "mine"}')
    // Someone else publishes v4 through the API while the edit is open.
    const login = await fetch(stack.url + '/api/auth/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: stack.password }),
    })
    const { access_token: token } = await login.json()
    const put = await fetch(stack.url + '/api/config/hello/greeting', {
      method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'If-Match': '3' },
      body: JSON.stringify({ value: { text: 'theirs' }, comment: 'from curl' }),
    })
    assert.equal(put.status, 200)
    await $('text=其他人刚刚发布了版本 4').waitFor()
    await $('[data-test=config-review]').click()
    await visibleDialog().locator('[data-test=config-publish]').click()
    await $('[data-test=stale]').waitFor()
    const stale = await $('[data-test=stale]').innerText()
    assert.match(stale, /版本 4/)
    assert.match(stale, /"text": "theirs"/)
    await shot('zh-config-stale')
    await $('[data-test=keep-mine]').click()
    await visibleDialog().locator('[data-test=config-publish]').click()
    await $('.el-tag:has-text("v5")').waitFor()
    assert.deepEqual(JSON.parse(await editor.inputValue()), { text: 'mine' })
  })

  await t.test('every page in zh-CN', async () => {
    await sendTraffic()
    await shootAll('zh')
  })

  await t.test('switches to English and to dark mode, remembered', async () => {
    await page.goto(stack.url + '/')
    await $('[data-test=lang]').click()
    await page.locator('.el-dropdown-menu__item:visible', { hasText: 'English' }).click()
    await $('text=Dashboard').first().waitFor()
    await shootAll('en')
    await $('[data-test=dark]').click()
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), true)
    await page.goto(stack.url + '/')
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), true)
    await $('[data-test=traffic-chart] canvas').waitFor()
    await shot('en-dark-dashboard')
    await page.goto(stack.url + '/services')
    await $('[data-test=service-name]').first().waitFor()
    await shot('en-dark-services')
    await $('[data-test=dark]').click()
    await page.setViewportSize({ width: 420, height: 800 })
    await $('[data-test=menu-toggle]').click()
    await page.locator('[data-test=drawer-menu]:visible').waitFor()
    await shot('en-narrow-drawer')
    await page.setViewportSize({ width: 1360, height: 860 })
    await page.keyboard.press('Escape')
  })

  await t.test('a tenant_admin sees only their tenant', async () => {
    await logout()
    await shot('en-login')
    await login('acme', 'ta', 'ta-password-1')
    await $('[data-test=dashboard]').waitFor()
    await page.goto(stack.url + '/tenants')
    await $('[data-test=tenants-table] >> text=acme').waitFor()
    const rows = await $('[data-test=tenants-table] .el-table__body tr').count()
    assert.equal(rows, 1)
    assert.equal(await $('[data-test=tenant-new]').count(), 0, 'no create button without tenants:write')
    await page.goto(stack.url + '/users')
    await $('[data-test=users-table] >> text=bob').waitFor()
    const users = await $('[data-test=users-table] .el-table__body tr td:first-child').allInnerTexts()
    assert.deepEqual(users.map((u) => u.trim()).sort(), ['bob', 'ta'])
    await shot('en-tenant-admin-users')
    // Enabling a service for their tenant is on the services page.
    await page.goto(stack.url + '/services')
    await $('[data-test=service-name]:has-text("hello")').waitFor()
    const input = page.getByRole('switch', { name: /hello$/ })
    const before = (await input.getAttribute('aria-checked')) === 'true'
    await page.locator('.el-switch', { has: input }).click()
    await page.waitForFunction((want) => document.querySelector('[role=switch][aria-label$=" hello"]')?.getAttribute('aria-checked') === want, String(!before))
    const me = await page.evaluate(async () => {
      const tok = JSON.parse(localStorage.getItem('plugboard.session') ?? 'null')?.access
      return (await fetch('/api/auth/me', { headers: { Authorization: `Bearer ${tok}` } })).json()
    })
    assert.equal(me.tenant.enabled_services.includes('hello'), !before, JSON.stringify(me.tenant))
  })

  await t.test('the menu works from the keyboard', async () => {
    await page.locator('[data-test=menu] .el-menu-item').first().focus()
    let reached = ''
    for (let i = 0; i < 12 && !/API/.test(reached); i++) {
      await page.keyboard.press('Tab')
      reached = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '')
    }
    assert.match(reached, /API/, 'Tab reaches the menu items')
    await page.keyboard.press('Enter')
    await $('[data-test=keys]').waitFor()
    assert.match(page.url(), /\/keys$/)
  })

  await t.test('a user without rights gets the 403 page naming the role', async () => {
    await logout()
    await login('acme', 'bob', 'bob-password-1')
    await $('[data-test=dashboard]').waitFor()
    const menu = await $('[data-test=menu]').innerText()
    assert.doesNotMatch(menu, /Users|Audit log|Services/) // core may grant a user their tenant and their own keys
    await page.goto(stack.url + '/users')
    await $('[data-test=forbidden]').waitFor()
    assert.match(await $('[data-test=forbidden]').innerText(), /users:read.*Tenant admin/s)
    await shot('en-403')
    await $('[data-test=lang]').click()
    await page.locator('.el-dropdown-menu__item:visible', { hasText: '中文' }).click()
    await $('[data-test=forbidden] >> text=租户管理员').waitFor()
    await shot('zh-403')
  })

  await t.test('no CSP violations or page errors', () => {
    assert.deepEqual(problems, [])
  })
})
