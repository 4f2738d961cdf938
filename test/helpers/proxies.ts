/**
 * Keygate, a small upstream API and a real proxy in front of them, each a
 * server of its own on an ephemeral port of 127.0.0.1:
 *
 *   const keygate = await startKeygate(t)
 *   const upstream = await startUpstream(t)
 *   const front = await startNginx(t, { keygate, upstream })
 *   const res = await fetch(`${front.url}/api/v1/bot/list`, { headers: bearer(key) })
 *
 * The proxies run the recipes in examples/ with only their addresses
 * replaced, so the configuration tested is the one documented. Every process
 * and server is stopped when t ends, whether it passed or not.
 *
 * A test first checks that its proxy is there (`if (missing(t, 'nginx')) return`,
 * test/helpers/requires.ts): it skips without one, and fails with CI=true.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import type { Test } from 'tap'
import { FORWARD_AUTH_PATH } from '../../src/adapters/forward-auth.js'
import { Store } from '../../src/store/index.js'
import { testDatabases, type TestDriver } from './databases.js'
import { findBinary } from './requires.js'
import { testServer, type TestServer } from './server.js'
import { tempDir } from './temp.js'

export type ProxyName = 'nginx' | 'caddy'

const EXAMPLES = new URL('../../examples/', import.meta.url)
const READY_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000

/** A request as a server received it. */
export interface SeenRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

export interface RunningKeygate extends TestServer {
  url: string
  port: number
  /** The forward-auth checks Keygate received, oldest first. */
  checks: SeenRequest[]
}

export interface Upstream {
  url: string
  port: number
  /** Every request that reached the API, oldest first. */
  requests: SeenRequest[]
}

export interface Proxy {
  name: string
  url: string
  port: number
  /** The proxy's output and log files so far, for failure messages. */
  logs(): string
}

/** Keygate's server (buildApp) listening on an ephemeral port, trusting the proxies' X-Forwarded-Proto, on a store of its own. */
export async function startKeygate (t: Test): Promise<RunningKeygate> {
  const server = await testServer(t, await testStore(t), { trustProxy: ['127.0.0.1'] })
  const checks: SeenRequest[] = []
  // Seen on the server itself: forward-auth checks are answered before Fastify routes them.
  server.app.server.on('request', (request: IncomingMessage) => {
    const url = request.url ?? ''
    if (url.startsWith(FORWARD_AUTH_PATH)) checks.push({ method: request.method ?? '', url, headers: request.headers })
  })
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 })
  return { ...server, url, port: Number(new URL(url).port), checks }
}

/** On PostgreSQL when KEYGATE_TEST_DATABASE_URL names a server (required with CI=true), else on the embedded store. */
async function testStore (t: Test): Promise<Store> {
  const driver = testDatabases().at(-1) as TestDriver
  return new Store(await driver.open(t, { migrated: true }))
}

/**
 * The API behind the proxy: answers every request with 200 and a JSON list
 * the SDK accepts, `{items: [], request: {method, url, headers}}`, echoing
 * what it received.
 */
export async function startUpstream (t: Test): Promise<Upstream> {
  const requests: SeenRequest[] = []
  const server = createHttpServer((request, response) => {
    const seen = { method: request.method ?? '', url: request.url ?? '', headers: request.headers }
    requests.push(seen)
    request.resume()
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ items: [], request: seen }))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, port, requests }
}

interface Backends {
  keygate: { port: number }
  upstream: { port: number }
}

/** nginx with examples/nginx/keygate.conf, in a minimal nginx.conf of its own (one process, logs and pid in a temporary folder). */
export async function startNginx (t: Test, { keygate, upstream }: Backends): Promise<Proxy> {
  const binary = requireBinary('nginx')
  return await startProxy(t, 'nginx', (dir, port) => {
    writeFileSync(join(dir, 'keygate.conf'), fromExample('nginx/keygate.conf', [
      ['server 127.0.0.1:8080;', `server 127.0.0.1:${keygate.port};`],
      ['server 127.0.0.1:9000;', `server 127.0.0.1:${upstream.port};`],
      ['listen 8000;', `listen 127.0.0.1:${port};`]
    ]))
    writeFileSync(join(dir, 'nginx.conf'), [
      // One process in the foreground: a child of this test that stops with it.
      'daemon off;',
      'master_process off;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log notice;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${dir}/access.log;`,
      ...tempPaths(binary, dir).map((line) => `  ${line}`),
      `  include ${dir}/keygate.conf;`,
      '}',
      ''
    ].join('\n'))
    return { command: binary, args: ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf')], logFiles: [join(dir, 'error.log')] }
  })
}

/** Caddy with examples/caddy/Caddyfile, behind global options that keep it off the network and out of $HOME. */
export async function startCaddy (t: Test, { keygate, upstream }: Backends): Promise<Proxy> {
  const binary = requireBinary('caddy')
  return await startProxy(t, 'caddy', (dir, port) => {
    const site = fromExample('caddy/Caddyfile', [
      ['127.0.0.1:8080', `127.0.0.1:${keygate.port}`],
      ['127.0.0.1:9000', `127.0.0.1:${upstream.port}`],
      [':8000 {', `:${port} {`]
    ])
    writeFileSync(join(dir, 'Caddyfile'), `{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}\n\n${site}`)
    return {
      command: binary,
      args: ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'],
      env: { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') },
      logFiles: []
    }
  })
}

function requireBinary (name: ProxyName): string {
  const binary = findBinary(name)
  if (binary === undefined) throw new Error(`${name} is not installed: run scripts/install-proxies.sh (as root)`)
  return binary
}

/** An example file with its addresses replaced; each one must be there, so that the example cannot drift from the test unnoticed. */
function fromExample (file: string, replacements: Array<[string, string]>): string {
  let text = readFileSync(new URL(file, EXAMPLES), 'utf8')
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`examples/${file} no longer contains ${JSON.stringify(from)}: update test/helpers/proxies.ts`)
    text = text.replaceAll(from, to)
  }
  return text
}

/** nginx creates every compiled-in temporary folder at start: keep them all in dir. */
function tempPaths (binary: string, dir: string): string[] {
  // nginx -V writes to stderr.
  const build = spawnSync(binary, ['-V'], { encoding: 'utf8' }).stderr
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .filter((kind) => kind === 'client_body' || !build.includes(`--without-http_${kind}_module`))
    .map((kind) => `${kind}_temp_path ${dir}/${kind}_temp;`)
}

interface Launch {
  command: string
  args: string[]
  env?: Record<string, string>
  logFiles: string[]
}

/**
 * Starts the proxy on a free port and waits, with a deadline, until it
 * answers HTTP. The port is picked before the proxy binds it, so another
 * process may take it in between: a start that fails on that is retried.
 */
async function startProxy (t: Test, name: string, configure: (dir: string, port: number) => Launch): Promise<Proxy> {
  for (let attempt = 1; ; attempt++) {
    const dir = tempDir(t, name)
    const port = await freePort()
    const launch = configure(dir, port)
    const { output, exited } = spawnOwned(t, launch.command, launch.args, { cwd: dir, env: { ...process.env, ...launch.env } }, 'SIGTERM')
    const logs = (): string => [
      `$ ${launch.command} ${launch.args.join(' ')}`,
      output(),
      ...launch.logFiles.map((file) => { try { return `${file}:\n${readFileSync(file, 'utf8')}` } catch { return `${file}: (none)` } })
    ].join('\n')
    const url = `http://127.0.0.1:${port}`
    const problem = await untilAnswers(url, exited)
    if (problem === undefined) return { name, url, port, logs }
    if (attempt < 3 && /address already in use/i.test(logs())) continue
    throw new Error(`${name} did not start: ${problem}\n${logs()}`)
  }
}

/** Undefined once url answers any HTTP request; why not, if the process exits first or the deadline passes. */
async function untilAnswers (url: string, exited: Promise<string>): Promise<string | undefined> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let exit: string | undefined
  void exited.then((reason) => { exit = reason })
  while (exit === undefined) {
    if (Date.now() > deadline) return `no answer on ${url} within ${READY_TIMEOUT_MS} ms`
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await response.arrayBuffer()
      return undefined
    } catch {
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50))])
    }
  }
  return exit
}

/** A port of 127.0.0.1 that nothing listened on a moment ago. */
export async function freePort (): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * A child process the test owns: its output kept, `exited` resolving with how
 * it ended, stopped with `stopSignal` in the test's teardown (SIGKILL after
 * STOP_TIMEOUT_MS) and killed should the test process end without it.
 */
export function spawnOwned (t: Test, command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }, stopSignal: NodeJS.Signals): { output: () => string; exited: Promise<string> } {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk) => { output += String(chunk) })
  child.stderr.on('data', (chunk) => { output += String(chunk) })
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => { resolve(`exited with ${signal ?? code}`) })
    child.once('error', (error) => { resolve(`failed to start: ${error.message}`) })
  })
  const kill = (): void => { child.kill('SIGKILL') }
  process.once('exit', kill)
  t.teardown(async () => {
    process.removeListener('exit', kill)
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill(stopSignal)
    const timer = setTimeout(kill, STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  })
  return { output: () => output, exited }
}
