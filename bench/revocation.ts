/**
 * Revocation across instances: three `keygate serve` processes (one worker each) on one
 * PostgreSQL database; in each trial a key is cached by all three, revoked
 * through one instance's API (`POST /api/v1/token/{id}/delete`), and each
 * instance is polled until it refuses the key. Reports p50/p99 of the time
 * from the revoke request until every instance refuses (target p99 ≤ 250 ms).
 *
 *   npx tsx bench/revocation.ts [--trials 200] [--instances 3]
 *
 * KEYGATE_BENCH_DATABASE_URL names the server (default the local one); a
 * throwaway database is created on it and dropped afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { bootstrap } from '../src/manage/index.js'
import { openStore } from '../src/store/index.js'

const { values } = parseArgs({ options: { trials: { type: 'string', default: '200' }, instances: { type: 'string', default: '3' } } })
const TRIALS = Number(values.trials)
const INSTANCES = Number(values.instances)
const SERVER_URL = process.env.KEYGATE_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const CLI = new URL('../src/cli/main.ts', import.meta.url).href
const GIVE_UP_MS = 10_000

async function onServer (sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try { await client.query(sql) } finally { await client.end() }
}

interface Server { child: ChildProcess; url: string }

async function serve (databaseUrl: string, secret: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { main } = await import(${JSON.stringify(CLI)}); process.exitCode = await main(['serve'], { stdout: process.stdout, stderr: process.stderr, env: process.env })`
  ], {
    env: { ...process.env, KEYGATE_PORT: '0', KEYGATE_DATABASE_URL: databaseUrl, KEYGATE_SIGNING_SECRET: secret, KEYGATE_LOG_LEVEL: 'info', KEYGATE_WORKERS: '1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk) => { if (output.length < 100_000) output += String(chunk) })
  child.stderr?.on('data', (chunk) => { output += String(chunk) })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(output)
      if (match !== null) { clearInterval(timer); resolve(match[1] as string) }
    }, 20)
    child.on('exit', (code) => { clearInterval(timer); reject(new Error(`serve exited with ${String(code)}:\n${output}`)) })
  })
  // Keep draining its output (the JSON log), or the pipe would fill and stall it.
  child.stdout?.removeAllListeners('data')
  child.stdout?.resume()
  return { child, url }
}

async function status (server: Server, token: string): Promise<number> {
  const res = await fetch(`${server.url}/v1/forward-auth`, {
    headers: { authorization: `Bearer ${token}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/v1/bot/list' }
  })
  await res.arrayBuffer()
  return res.status
}

/** Polls until the server refuses the token; returns when, in performance.now() time. */
async function refusedAt (server: Server, token: string): Promise<number> {
  const deadline = performance.now() + GIVE_UP_MS
  while (performance.now() < deadline) {
    if (await status(server, token) === 401) return performance.now()
  }
  throw new Error(`${server.url} still accepts a revoked key after ${GIVE_UP_MS} ms`)
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number
}

const name = `kg_bench_revocation_${randomBytes(4).toString('hex')}`
await onServer(`CREATE DATABASE ${name}`)
const url = new URL(SERVER_URL)
url.pathname = `/${name}`
const servers: Server[] = []
try {
  const setup = await openStore({ databaseUrl: url.href })
  const admin = await bootstrap(setup, { email: 'bench@example.com' })
  await setup.close()
  const secret = randomBytes(32).toString('base64')
  for (let i = 0; i < INSTANCES; i++) servers.push(await serve(url.href, secret))
  const [first] = servers as [Server]
  const auth = { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' }

  const everyInstance: number[] = []
  const perInstance: number[][] = servers.map(() => [])
  const revokeCall: number[] = []
  const afterAnswer: number[] = []
  for (let trial = 0; trial < TRIALS; trial++) {
    const created = await (await fetch(`${first.url}/api/v1/token/create`, { method: 'POST', headers: auth, body: '{}' })).json() as { id: string; token: string }
    // Cached by every instance (a positive entry lives 60 s: only the notification can end it sooner).
    for (const server of servers) {
      if (await status(server, created.token) !== 200) throw new Error('a new key is not accepted')
    }
    const revoking = servers[trial % servers.length] as Server
    const started = performance.now()
    let answeredAt = Infinity
    const revoked = fetch(`${revoking.url}/api/v1/token/${created.id}/delete`, { method: 'POST', headers: auth, body: '{}' })
      .then((res) => { answeredAt = performance.now(); return res })
    const refused = await Promise.all(servers.map(async (server) => await refusedAt(server, created.token)))
    if ((await revoked).status !== 200) throw new Error('revocation failed')
    refused.forEach((at, i) => {
      perInstance[i]!.push(at - started)
      // The other instances, from the moment the revoking one answered: the notification's part.
      if (servers[i] !== revoking) afterAnswer.push(at - answeredAt)
    })
    revokeCall.push(answeredAt - started)
    everyInstance.push(Math.max(...refused) - started)
  }

  const row = (label: string, values: number[]): string =>
    `${label.padEnd(28)} p50 ${percentile(values, 50).toFixed(1).padStart(7)} ms   p99 ${percentile(values, 99).toFixed(1).padStart(7)} ms   max ${Math.max(...values).toFixed(1).padStart(7)} ms`
  console.log(`Revocation seen by every instance: ${INSTANCES} keygate serve processes on one PostgreSQL database, ${TRIALS} trials`)
  console.log(row('every instance refuses', everyInstance))
  perInstance.forEach((values, i) => console.log(row(`  instance ${i + 1}`, values)))
  console.log(row('the revoke call itself', revokeCall))
  console.log(row('others, after its answer', afterAnswer))
  const p99 = percentile(everyInstance, 99)
  console.log(`target p99 ≤ 250 ms: ${p99 <= 250 ? 'met' : 'NOT met'} (${p99.toFixed(1)} ms)`)
} finally {
  for (const { child } of servers) child.kill('SIGTERM')
  await Promise.all(servers.map(async ({ child }) => await new Promise((resolve) => { if (child.exitCode !== null) resolve(null); else child.on('exit', resolve) })))
  await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}
