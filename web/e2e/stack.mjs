// Starts the real Plugboard stack for the console's end-to-end tests and
// benchmarks: bin/plugboard run (registry, core, gateway serving web/dist
// through the repository's Caddyfile) on free loopback ports, with a fresh
// data directory, and reads the super admin's password it prints.
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const repo = resolve(import.meta.dirname, '..', '..')
const bin = join(repo, 'bin')

/** freePort asks the kernel for a loopback port nobody uses. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer()
    s.once('error', fail)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => ok(port))
    })
  })
}

/** startStack runs the stack and resolves once the launcher says it is up. */
export async function startStack({ log = false } = {}) {
  for (const f of ['plugboard', 'plugboard-registry', 'plugboard-core', 'plugboard-gateway']) {
    if (!existsSync(join(bin, f))) throw new Error(`bin/${f} is missing: run make build first`)
  }
  if (!existsSync(join(repo, 'web', 'dist', 'index.html'))) throw new Error('web/dist is missing: run make console first')
  const data = mkdtempSync(join(tmpdir(), 'plugboard-console-e2e-'))
  const [gw, reg, core] = [await freePort(), await freePort(), await freePort()]
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME,
    PLUGBOARD_DATA_DIR: data,
    PLUGBOARD_REGISTRY_LISTEN: `127.0.0.1:${reg}`,
    PLUGBOARD_CORE_LISTEN: `127.0.0.1:${core}`,
    PLUGBOARD_GATEWAY_LISTEN: `127.0.0.1:${gw}`,
    PLUGBOARD_GATEWAY_ADMIN: 'off',
    PLUGBOARD_GATEWAY_CADDYFILE: join(repo, 'Caddyfile'),
    PLUGBOARD_WEB_ROOT: join(repo, 'web', 'dist'),
    PLUGBOARD_GATEWAY_ACCESS_LOG: 'discard',
    PLUGBOARD_CORE_BCRYPT_COST: '4',
    PLUGBOARD_REGISTRY_HEALTH_INTERVAL: '1s',
    PLUGBOARD_LOG_LEVEL: 'warn',
  }
  const proc = spawn(join(bin, 'plugboard'), ['run'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const onData = (d) => {
    out += d
    if (log) process.stderr.write(d)
  }
  proc.stdout.on('data', onData)
  proc.stderr.on('data', onData)
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the stack did not start in 120 s:\n' + out)), 120_000)
    const check = () => {
      if (/stack running/.test(out)) {
        clearTimeout(timer)
        ok()
      }
    }
    proc.stdout.on('data', check)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      fail(new Error(`bin/plugboard run exited (${code}):\n${out}`))
    })
  })
  const password = /with password: (\S+)/.exec(out)?.[1]
  if (!password) throw new Error('no admin password printed:\n' + out)
  const token = readFileSync(join(data, 'registry.token'), 'utf8').trim()
  const children = []
  return {
    url: `http://127.0.0.1:${gw}`,
    registryURL: `http://127.0.0.1:${reg}`,
    coreURL: `http://127.0.0.1:${core}`,
    password,
    token,
    data,
    /** plugin starts bin/hello-go registered through this stack's registry. */
    async plugin(extraEnv = {}) {
      const port = await freePort()
      const p = spawn(join(bin, 'hello-go'), [], {
        cwd: repo, stdio: ['ignore', 'ignore', log ? 'inherit' : 'ignore'],
        env: {
          PATH: process.env.PATH, PLUGBOARD_SERVICE_PORT: String(port), PLUGBOARD_REGISTRY_URL: `http://127.0.0.1:${reg}`,
          PLUGBOARD_REGISTRY_TOKEN: token, PLUGBOARD_CORE_URL: `http://127.0.0.1:${core}`,
          // Its own service key, as `plugboard-gateway service-key <name>` derives it.
          PLUGBOARD_SERVICE_KEY: createHmac('sha256', readFileSync(join(data, 'gateway.secret'), 'utf8').trim())
            .update('plugboard-service-key:' + (extraEnv.PLUGBOARD_SERVICE_NAME ?? 'hello')).digest('hex'),
          ...extraEnv,
        },
      })
      children.push(p)
      return p
    },
    async stop() {
      for (const c of children) c.kill('SIGTERM')
      proc.kill('SIGTERM')
      await new Promise((ok) => (proc.exitCode !== null ? ok() : proc.once('exit', ok)))
      rmSync(data, { recursive: true, force: true })
    },
  }
}
