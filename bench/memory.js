// Figure 7. Memory of one `keygate serve` process (KEYGATE_WORKERS=1; every
// worker of a cluster holds as much): RSS after a 60-second mixed run (cached
// keys, impersonation, session tokens, forged and unknown keys, keys seen for
// the first time), then after filling every cache past its limit (10,000
// entries each by default: keys, accounts, children by e-mail, verified
// tokens), then sampled while traffic with ever-new credentials keeps the
// caches evicting. Baseline: a Fastify hello world after the same 60-second
// autocannon run. The decision log is on (default: PostgreSQL), with its
// bounded buffer.
import { generateSecretKey, openStore, Sessions } from '../dist/index.js'
import { bulkLoad, USER_ID } from './lib/bulk.js'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startHello, startKeygate } from './lib/keygate.js'
import { load, rssBytes } from './lib/proc.js'
import { log, report, round, SMALL } from './lib/report.js'
import { median } from './lib/stats.js'

const USERS = SMALL ? 12_000 : 30_000
const SESSIONS = SMALL ? 11_000 : 12_000
const MIXED_SECONDS = SMALL ? 20 : 60
const CHURN_SECONDS = SMALL ? 20 : 90
const SAMPLE_MS = 5_000
const CONNECTIONS = 50
const MB = 1024 * 1024

const db = await throwawayDatabase('memory')
const servers = []
try {
  log(`loading ${USERS} accounts with a key each, minting ${SESSIONS} session tokens`)
  const keys = await bulkLoad(db.url, { users: USERS, keys: USERS, keep: () => true, log })
  const fx = await smallFixture(db.url)
  const store = await openStore({ databaseUrl: db.url })
  const minter = new Sessions({ db: store.database, secret: fx.secret })
  const sessions = []
  for (let i = 0; i < SESSIONS; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, SESSIONS - i) }, (_, j) => minter.mint({ userId: USER_ID(((i + j) % USERS) + 1), durationInSeconds: 3600 })))
    sessions.push(...batch.map((m) => m.token))
  }
  await minter.close()
  await store.close()

  const hello = await startHello()
  servers.push(hello)
  const kg = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1 })
  servers.push(kg)
  const idle = rssBytes(kg.pid)
  const helloIdle = rssBytes(hello.pid)

  const parents = USERS / 10
  const mixed = []
  const paths = ['/api/v1/bot/list', '/api/v1/bot/bot_1/update', '/api/v1/dataset/create', '/v1/memory/search']
  for (let i = 0; i < 1_000; i++) {
    const path = paths[i % paths.length]
    const kind = i % 10
    const credential = kind < 4
      ? { token: fx.key }
      : kind < 5
        ? { token: fx.key, extra: { 'x-runas-user-id': fx.childId } }
        : kind < 6
          ? { token: fx.session }
          : kind < 7
            ? { token: 'sk-' + 'x'.repeat(43) + String(i).padStart(6, '0') }
            : kind < 8
              ? { token: generateSecretKey().key }
              : { token: keys.get((i % USERS) + 1).key }
    mixed.push({ method: 'GET', path: '/v1/forward-auth', headers: forwardHeaders(credential.token, path, credential.extra) })
  }

  /** V8's heap in use (MB), from Keygate's /metrics; null for another server. */
  const heapUsed = async (server) => {
    if (server !== kg) return null
    const text = await (await fetch(`${kg.url}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith('keygate_nodejs_heap_size_used_bytes'))
    return line === undefined ? null : Number(line.split(' ').pop()) / MB
  }
  /** Runs `work` while sampling RSS (and Keygate's heap in use) every SAMPLE_MS; returns the samples (MB). */
  const sampled = async (server, work) => {
    const pid = server.pid
    const samples = [{ t: 0, rss: rssBytes(pid) / MB, heap: await heapUsed(server) }]
    const start = performance.now()
    const timer = setInterval(() => {
      const t = Math.round((performance.now() - start) / 1000)
      const rss = rssBytes(pid) / MB
      heapUsed(server).then((heap) => { samples.push({ t, rss, heap }) }, () => { samples.push({ t, rss, heap: null }) })
    }, SAMPLE_MS)
    try {
      await work()
    } finally {
      clearInterval(timer)
    }
    samples.push({ t: Math.round((performance.now() - start) / 1000), rss: rssBytes(pid) / MB, heap: await heapUsed(server) })
    return samples.sort((a, b) => a.t - b.t)
  }

  log(`${MIXED_SECONDS} s mixed run against Keygate, then the same against the Fastify baseline`)
  const mixedSamples = await sampled(kg, () => load({ url: kg.url, connections: CONNECTIONS, duration: MIXED_SECONDS, requests: mixed }))
  const afterMixed = rssBytes(kg.pid)
  const helloSamples = await sampled(hello, () => load({ url: hello.url, connections: CONNECTIONS, duration: MIXED_SECONDS, requests: mixed }))
  const helloAfter = rssBytes(hello.pid)
  log(`  keygate RSS ${mixedSamples.map((s) => s.rss.toFixed(0)).join(' ')} MB; hello ${helloSamples.map((s) => s.rss.toFixed(0)).join(' ')} MB`)

  // Past every limit: each valid key (and its owner) once, each child by e-mail once, each session token once, as many unknown keys.
  let cursor = 0
  const drive = async (requests, concurrency = 32) => {
    let i = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (i < requests.length) {
        const { headers } = requests[i++]
        const res = await fetch(`${kg.url}/v1/forward-auth`, { headers })
        await res.arrayBuffer()
      }
    }))
  }
  const fillRequests = (offset) => {
    const out = []
    for (let i = 1; i <= USERS; i++) {
      const n = ((i + offset - 1) % USERS) + 1
      out.push({ headers: forwardHeaders(keys.get(n).key, '/api/v1/bot/list') })
      out.push({ headers: forwardHeaders(generateSecretKey().key, '/api/v1/bot/list') })
      if (n > parents) {
        const parent = ((n - 1) % parents) + 1
        out.push({ headers: forwardHeaders(keys.get(parent).key, '/api/v1/bot/list', { 'x-runas-child-user-email': `user${n}@bench.example` }) })
      }
    }
    for (let i = 0; i < SESSIONS; i++) out.push({ headers: forwardHeaders(sessions[(i + offset) % SESSIONS], '/api/v1/bot/list') })
    return out
  }
  log('filling every cache past its limit')
  const fill = fillRequests(0)
  const fillSamples = await sampled(kg, () => drive(fill))
  const afterFill = rssBytes(kg.pid)
  const metrics = await (await fetch(`${kg.url}/metrics`)).text()
  const entries = Object.fromEntries(metrics.split('\n').filter((l) => l.startsWith('keygate_cache_entries{')).map((l) => [/cache="([^"]+)"/.exec(l)[1], Number(l.split(' ').pop())]))
  log(`  RSS ${fillSamples.map((s) => s.rss.toFixed(0)).join(' ')} MB; cache entries ${JSON.stringify(entries)}`)

  log(`${CHURN_SECONDS} s of churn: ever-new unknown keys and the valid keys, accounts, children and tokens in turn (caches evicting)`)
  const churnSamples = await sampled(kg, async () => {
    const until = performance.now() + CHURN_SECONDS * 1000
    while (performance.now() < until) {
      cursor += 7_919
      await drive(fillRequests(cursor).slice(0, 5_000))
    }
  })
  const afterChurn = rssBytes(kg.pid)
  log(`  RSS ${churnSamples.map((s) => s.rss.toFixed(0)).join(' ')} MB`)

  // Flat: the second half of the churn samples against the first (medians; a GC may fall anywhere).
  const half = Math.floor(churnSamples.length / 2)
  const growth = median(churnSamples.slice(half).map((x) => x.rss)) / median(churnSamples.slice(0, half).map((x) => x.rss)) - 1
  const rows = [
    {
      figure: 7,
      name: `RSS after a ${MIXED_SECONDS} s mixed run (1 process)`,
      value: round(afterMixed / MB, 1),
      unit: 'MB',
      idle: `${round(idle / MB, 1)} MB at start`,
      baseline: { name: `Fastify hello world after the same run (${round(helloIdle / MB, 1)} MB at start)`, value: round(helloAfter / MB, 1) },
      ratio: round(afterMixed / helloAfter, 1),
      samples: mixedSamples.map((s) => round(s.rss, 1))
    },
    {
      figure: 7,
      name: `RSS after filling every cache past its limit (${USERS.toLocaleString('en')} keys, accounts and unknown keys, ${SESSIONS.toLocaleString('en')} tokens)`,
      value: round(afterFill / MB, 1),
      unit: 'MB',
      entries,
      samples: fillSamples.map((s) => round(s.rss, 1))
    },
    {
      figure: 7,
      name: `RSS under ${CHURN_SECONDS} s more of churn at full caches: median of the second half against the first`,
      value: round(growth * 100, 1),
      unit: '%',
      target: 'flat (within ±10 %)',
      met: Math.abs(growth) <= 0.1,
      note: `heap in use ${churnSamples.map((x) => x.heap === null ? '?' : round(x.heap)).join(' ')} MB; RSS at the end ${round(afterChurn / MB, 1)} MB`,
      samples: churnSamples.map((s) => round(s.rss, 1))
    }
  ]
  report('memory', rows, { users: USERS, sessions: SESSIONS, mixedSeconds: MIXED_SECONDS, churnSeconds: CHURN_SECONDS, mixedSamples, helloSamples, fillSamples, churnSamples, entries })
} finally {
  for (const server of servers) await server.stop()
  await db.drop()
}
