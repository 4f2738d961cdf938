/**
 * KEYGATE_WORKERS: `keygate serve` as a node:cluster primary with workers
 * sharing the port, on a PostgreSQL store (the embedded store allows one process).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import t from 'tap'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { ConfigError, loadConfig, workersOf } from '../../src/config/index.js'
import { openStore } from '../../src/store/index.js'
import { createTestDatabase } from '../helpers/databases.js'
import { BIN } from '../helpers/keygate-bin.js'
import { missing } from '../helpers/requires.js'
import { checkRequest, extAuthzClient, setHeaders } from '../helpers/ext-authz.js'
import { testPolicy } from '../helpers/server.js'
import { until } from '../helpers/until.js'

t.test('KEYGATE_WORKERS: one per core with PostgreSQL, one with the embedded store', async (t) => {
  const pg = 'postgres://db/keygate'
  t.equal(workersOf(loadConfig({ KEYGATE_DATABASE_URL: pg }, { sessions: false })), availableParallelism())
  t.equal(workersOf(loadConfig({})), 1)
  t.equal(workersOf(loadConfig({ KEYGATE_WORKERS: ' 3 ', KEYGATE_DATABASE_URL: pg }, { sessions: false })), 3)
  t.equal(workersOf(loadConfig({ KEYGATE_WORKERS: '', KEYGATE_DATABASE_URL: pg }, { sessions: false })), availableParallelism(), 'empty means unset')
  t.equal(workersOf(loadConfig({ KEYGATE_WORKERS: '1' })), 1)
  for (const bad of ['0', '-1', 'two', '1.5', '1025']) {
    t.throws(() => loadConfig({ KEYGATE_WORKERS: bad, KEYGATE_DATABASE_URL: pg }, { sessions: false }), ConfigError, bad)
  }
  t.throws(() => loadConfig({ KEYGATE_WORKERS: '2' }), { message: /KEYGATE_WORKERS=2 needs KEYGATE_DATABASE_URL/ })
})

interface Primary { child: ChildProcess; output: () => string; exit: Promise<number | null> }

function startPrimary (env: Record<string, string>): Primary {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, KEYGATE_PORT: '0', KEYGATE_SIGNING_SECRET: randomBytes(32).toString('base64'), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk) => { output += String(chunk) })
  child.stderr?.on('data', (chunk) => { output += String(chunk) })
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { child, output: () => output, exit }
}

/** The workers' "listening" log lines so far: pid and URL. */
function listening (output: string): Array<{ pid: number; url: string }> {
  return output.split('\n').filter((line) => line.includes('Server listening at')).map((line) => {
    const entry = JSON.parse(line) as { pid: number; msg: string }
    return { pid: entry.pid, url: /(http:\/\/\S+)/.exec(entry.msg)?.[1] as string }
  })
}

/** The workers' "gRPC listening" log lines so far: pid and host:port. */
function grpcListening (output: string): Array<{ pid: number; address: string }> {
  return output.split('\n').filter((line) => line.includes('"gRPC listening at')).map((line) => {
    const entry = JSON.parse(line) as { pid: number; grpc: string }
    return { pid: entry.pid, address: entry.grpc }
  })
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('workers share the port, are replaced when they die, and stop on SIGTERM', async (t) => {
  if (missing(t, 'postgres')) return
  await testPolicy() // the bundle exists
  const databaseUrl = await createTestDatabase(t)
  const store = await openStore({ databaseUrl })
  const user = await createAccount(store, { email: 'cluster@example.com' })
  const { token } = await issueKey(store, { userId: user.id })
  await store.close()

  // At debug, a line per check says which worker answered it.
  const primary = startPrimary({ KEYGATE_DATABASE_URL: databaseUrl, KEYGATE_WORKERS: '2', KEYGATE_GRPC_PORT: '0', KEYGATE_LOG_LEVEL: 'debug' })
  t.teardown(() => { primary.child.kill('SIGKILL') })
  await until(() => listening(primary.output()).length === 2 && grpcListening(primary.output()).length === 2, 60_000)
  const workers = listening(primary.output())
  t.equal(new Set(workers.map((w) => w.pid)).size, 2, 'two worker processes')
  t.equal(new Set(workers.map((w) => w.url)).size, 1, 'one port')
  t.notOk(workers.some((w) => w.pid === primary.child.pid), 'the primary serves nothing itself')
  const url = workers[0]?.url as string

  // New connections are handed to the workers in turn; every one decides alike.
  const answered = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${url}/v1/forward-auth`, {
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/v1/bot/list', connection: 'close' }
    })
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-keygate-user-id'), user.id)
  }
  for (const line of primary.output().split('\n')) {
    if (line.includes('"request completed"')) answered.add((JSON.parse(line) as { pid: number }).pid)
  }
  t.same([...answered].sort(), workers.map((w) => w.pid).sort(), 'both workers answered')

  // gRPC: the same sharing of one port (Envoy's connections are long-lived: each goes to one worker).
  const grpcWorkers = grpcListening(primary.output())
  t.same(grpcWorkers.map((w) => w.pid).sort(), workers.map((w) => w.pid).sort(), 'every worker serves gRPC')
  t.equal(new Set(grpcWorkers.map((w) => w.address)).size, 1, 'on one port')
  for (let i = 0; i < 6; i++) {
    const client = extAuthzClient(t, grpcWorkers[0]?.address as string)
    const response = await client.check(checkRequest({ headers: { authorization: `Bearer ${token}` } }))
    t.equal(setHeaders(response)['x-keygate-user-id'], user.id, `connection ${i}: allowed`)
  }
  const checked = new Set<number>()
  for (const line of primary.output().split('\n')) {
    if (line.includes('"check completed"')) checked.add((JSON.parse(line) as { pid: number }).pid)
  }
  t.same([...checked].sort(), workers.map((w) => w.pid).sort(), 'both workers answered gRPC checks')

  // A worker that dies is replaced.
  process.kill(workers[0]?.pid as number, 'SIGKILL')
  await until(() => listening(primary.output()).length === 3, 60_000)
  const replacement = listening(primary.output())[2]
  t.notOk(workers.some((w) => w.pid === replacement?.pid), 'a new worker')
  t.match(primary.output(), /cluster: a worker died; starting another/)
  t.equal((await fetch(`${url}/healthz`)).status, 200)

  // The replacement may still be starting (its gRPC listener not up yet): it must stop all the same.
  primary.child.kill('SIGTERM')
  t.equal(await primary.exit, 0, 'the primary exits 0 once every worker has')
  t.match(primary.output(), /"signal":"primary","msg":"shutting down: finishing requests in flight"/)
  for (const pid of [workers[1]?.pid, replacement?.pid]) t.notOk(alive(pid as number), `worker ${pid} is gone`)
})

t.test('a worker that cannot start stops the cluster: exit 1', async (t) => {
  if (missing(t, 'postgres')) return
  const databaseUrl = await createTestDatabase(t)
  const primary = startPrimary({ KEYGATE_DATABASE_URL: databaseUrl, KEYGATE_WORKERS: '2', KEYGATE_POLICY_BUNDLE: '/nonexistent/bundle.tar.gz' })
  t.teardown(() => { primary.child.kill('SIGKILL') })
  t.equal(await primary.exit, 1)
  t.match(primary.output(), /cluster: a worker stopped before it could serve; stopping every worker/)
})

t.test('the embedded store refuses more than one worker before starting anything', async (t) => {
  const primary = startPrimary({ KEYGATE_DATA_DIR: 'memory://', KEYGATE_WORKERS: '2' })
  t.teardown(() => { primary.child.kill('SIGKILL') })
  t.equal(await primary.exit, 1)
  t.match(primary.output(), /KEYGATE_WORKERS=2 needs KEYGATE_DATABASE_URL/)
})
