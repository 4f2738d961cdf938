import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { credentials as grpcCredentials, status as grpcStatus } from '@grpc/grpc-js'
import t from 'tap'
import { main } from '../../src/cli/main.js'
import { loadConfig, sessionSettingsOf } from '../../src/config/index.js'
import { start } from '../../src/server/serve.js'
import { missing } from '../helpers/requires.js'
import { checkRequest, extAuthzClient } from '../helpers/ext-authz.js'
import { createTestDatabase } from '../helpers/databases.js'
import { BIN } from '../helpers/keygate-bin.js'
import { testPolicy } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

const NOTICE = /Keygate created the first admin account \(admin@keygate\.localhost\) in the embedded store\.\n {2}user id: (usr_\w+)\n {2}key: {5}(sk-\w+)\n/

interface Exit { code: number | null; signal: NodeJS.Signals | null }

interface Running {
  child: ChildProcess
  /** stdout and stderr so far. */
  output: () => string
  /** The first match of pattern in the output, once it is there; rejects if the process ends first. */
  seen: (pattern: RegExp) => Promise<RegExpExecArray>
  url: string
  exit: Promise<Exit>
}

const SHUTTING_DOWN = /shutting down: finishing requests in flight/

/** `keygate serve` in a process of its own, as `npm start` runs it. */
async function serveProcess (env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...process.env, KEYGATE_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const onOutput = new EventEmitter()
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk) => { output += String(chunk); onOutput.emit('data') })
  }
  const exit = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => { resolve({ code, signal }) }))
  const seen = async (pattern: RegExp): Promise<RegExpExecArray> => await new Promise((resolve, reject) => {
    const look = (): boolean => {
      const match = pattern.exec(output)
      if (match !== null) { onOutput.off('data', look); resolve(match) }
      return match !== null
    }
    if (look()) return
    onOutput.on('data', look)
    void exit.then((how) => { onOutput.off('data', look); reject(new Error(`serve ended (${JSON.stringify(how)}) before ${String(pattern)}:\n${output}`)) })
  })
  const url = (await seen(/"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/))[1] as string
  return { child, output: () => output, seen, url, exit }
}

t.test('keygate serve: bootstrap once, then graceful shutdown on SIGTERM', async (t) => {
  // A folder in the temporary one: the store keeps its lock file beside its own folder.
  const dataDir = join(tempDir(t, 'serve'), 'data')
  const first = await serveProcess({ KEYGATE_DATA_DIR: dataDir })
  t.teardown(() => { first.child.kill('SIGKILL') })
  const notice = NOTICE.exec(first.output())
  t.ok(notice, 'the admin key is printed')
  const token = notice?.[2] as string
  const logLines = first.output().split('\n').filter((line) => line.startsWith('{'))
  t.ok(logLines.length > 0)
  t.notOk(logLines.some((line) => line.includes(token)), 'the key is not in the JSON log')

  const list = await fetch(`${first.url}/api/v1/token/list`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(list.status, 200, 'the printed key is an admin key that works')

  // A request the server is reading when the signal comes is answered before the process ends.
  const inFlight = slowRequest(first.url, JSON.stringify({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${token}` } }))
  await inFlight.started
  first.child.kill('SIGTERM')
  await first.seen(SHUTTING_DOWN)
  inFlight.finish()
  const answer = await inFlight.answer
  t.equal(answer.status, 200)
  t.match(JSON.parse(answer.body), { allow: true, status: 200 })
  t.same(await first.exit, { code: 0, signal: null }, 'exits 0 after shutting down')

  const second = await serveProcess({ KEYGATE_DATA_DIR: dataDir })
  t.teardown(() => { second.child.kill('SIGKILL') })
  t.notMatch(second.output(), /Keygate created the first admin account/, 'no second bootstrap')
  second.child.kill('SIGINT')
  t.same(await second.exit, { code: 0, signal: null })
})

t.test('a second signal ends the process at once, without waiting for the requests in flight', async (t) => {
  const running = await serveProcess({ KEYGATE_DATA_DIR: join(tempDir(t, 'serve'), 'data') })
  t.teardown(() => { running.child.kill('SIGKILL') })
  // Never finished: a graceful shutdown would wait for it (until the request timeout answers it 408, and then exit 0).
  const stuck = slowRequest(running.url, JSON.stringify({ method: 'GET', path: '/api/v1/bot/list', headers: {} }))
  await stuck.started
  running.child.kill('SIGTERM')
  await running.seen(SHUTTING_DOWN)
  const unanswered = t.rejects(stuck.answer, 'the request in flight got no answer')
  running.child.kill('SIGTERM')
  t.same(await running.exit, { code: null, signal: 'SIGTERM' }, 'ended by the signal itself')
  await unanswered
})

t.test('a bad configuration stops serve before it starts, saying why', async (t) => {
  let stderr = ''
  const code = await main(['serve'], {
    stdout: { write: () => true },
    stderr: { write: (chunk: string) => { stderr += chunk } },
    env: { KEYGATE_PORT: 'eighty', KEYGATE_LOG_LEVEL: 'loud' }
  })
  t.equal(code, 1)
  t.match(stderr, /invalid configuration:\n {2}- KEYGATE_PORT="eighty": must be a port number/)
  t.match(stderr, /KEYGATE_LOG_LEVEL/)
  t.equal(await main(['serve', '--port', '1'], { stdout: { write: () => true }, stderr: { write: () => true }, env: {} }), 2)
})

t.test('HTTPS with KEYGATE_TLS_CERT and KEYGATE_TLS_KEY, and gRPC with the same certificate', async (t) => {
  if (missing(t, 'openssl')) return
  const dir = tempDir(t, 'tls')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
    '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  const config = loadConfig({
    KEYGATE_PORT: '0',
    KEYGATE_DATA_DIR: 'memory://',
    KEYGATE_TLS_CERT: join(dir, 'cert.pem'),
    KEYGATE_TLS_KEY: join(dir, 'key.pem'),
    KEYGATE_GRPC_PORT: '0',
    KEYGATE_LOG_LEVEL: 'silent'
  })
  await testPolicy() // fails early, with advice, when the bundle is missing
  let stdout = ''
  const sessions = await sessionSettingsOf(config)
  const server = await start({ ...config, sessions }, { stdout: { write: (chunk: string) => { stdout += chunk } } })
  t.teardown(async () => { await server.close() })
  t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  t.match(stdout, NOTICE)
  const body = await new Promise<string>((resolve, reject) => {
    httpsRequest(`${server.url}/healthz`, { rejectUnauthorized: false }, (res) => {
      let text = ''
      res.on('data', (chunk) => { text += String(chunk) })
      res.on('end', () => { resolve(text) })
    }).on('error', reject).end()
  })
  t.equal(body, '{"status":"ok"}')

  t.match(server.grpc?.address, /^127\.0\.0\.1:\d+$/)
  const tls = grpcCredentials.createSsl(readFileSync(join(dir, 'cert.pem')))
  const client = extAuthzClient(t, server.grpc?.address as string, tls, { 'grpc.ssl_target_name_override': 'localhost' })
  const token = NOTICE.exec(stdout)?.[2] as string
  const allowed = await client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }))
  t.equal(allowed.status?.code ?? 0, 0, 'gRPC over TLS, deciding with the bootstrap key')
  t.equal(await client.health(), 'SERVING')
  const plain = extAuthzClient(t, server.grpc?.address as string)
  await t.rejects(plain.health(), { code: grpcStatus.UNAVAILABLE }, 'no plaintext gRPC beside TLS')
})

t.test('KEYGATE_REQUIRE_HTTPS: a credential that came over plain HTTP is refused', async (t) => {
  const config = loadConfig({
    KEYGATE_PORT: '0',
    KEYGATE_DATA_DIR: 'memory://',
    KEYGATE_TRUST_PROXY: '127.0.0.1',
    KEYGATE_REQUIRE_HTTPS: 'true',
    KEYGATE_LOG_LEVEL: 'silent'
  })
  await testPolicy()
  let stdout = ''
  const sessions = await sessionSettingsOf(config)
  const server = await start({ ...config, sessions }, { stdout: { write: (chunk: string) => { stdout += chunk } } })
  t.teardown(async () => { await server.close() })
  const token = NOTICE.exec(stdout)?.[2] as string
  const check = async (headers: Record<string, string>): Promise<number> => (await fetch(`${server.url}/v1/forward-auth`, {
    headers: { authorization: `Bearer ${token}`, 'x-original-uri': '/api/v1/bot/list', 'x-original-method': 'GET', ...headers }
  })).status
  t.equal(await check({ 'x-forwarded-proto': 'https' }), 200, 'the proxy says the client used HTTPS')
  t.equal(await check({ 'x-forwarded-proto': 'http' }), 403, 'the proxy says plain HTTP')
  t.equal(await check({}), 403, 'no proxy word: the connection itself was plain HTTP')
  t.equal((await fetch(`${server.url}/v1/forward-auth`, { headers: { 'x-original-uri': '/api/v1/bot/list' } })).status, 401,
    'without a credential it is still a 401')
})

/**
 * A decision request that the server has begun to read (`started`: it parsed the
 * headers and answered `100 Continue`) and whose body comes only on `finish()`.
 */
function slowRequest (base: string, body: string): { started: Promise<void>; finish: () => void; answer: Promise<{ status: number | undefined; body: string }> } {
  const url = new URL('/v1/authorize', base)
  const req = httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' }
  })
  const started = new Promise<void>((resolve) => { req.once('continue', resolve) })
  const answer = new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = ''
      res.on('data', (chunk) => { text += String(chunk) })
      res.on('end', () => { resolve({ status: res.statusCode, body: text }) })
    })
    req.on('error', reject)
  })
  req.flushHeaders()
  return { started, finish: () => { req.end(body) }, answer }
}

t.test('on an empty PostgreSQL store, serve says how to bootstrap; a misspelt variable is warned about', async (t) => {
  if (missing(t, 'postgres')) return
  await testPolicy()
  const databaseUrl = await createTestDatabase(t)
  const config = loadConfig({
    KEYGATE_PORT: '0', KEYGATE_DATABASE_URL: databaseUrl, KEYGATE_SIGNING_SECRET: 'b'.repeat(64), KEYGATE_DECISION_LOG: 'off'
  })
  let stdout = ''
  const server = await start({ ...config, sessions: await sessionSettingsOf(config), warnings: ['KEYGATE_PROT is not a Keygate variable'] },
    { stdout: { write: (chunk: string) => { stdout += chunk } } })
  t.teardown(async () => { await server.close() })
  t.match(stdout, /"level":40,.*"msg":"the store has no accounts yet: create the first admin account and its key with `keygate bootstrap --email you@example\.com`/)
  t.match(stdout, /"level":40,.*"msg":"configuration: KEYGATE_PROT is not a Keygate variable"/)
  t.notMatch(stdout, /Keygate created the first admin account/, 'a shared store is never bootstrapped behind the operator\'s back')
})
