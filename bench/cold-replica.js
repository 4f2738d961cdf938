// Figure 15. Cold lookups per second per replica: authorize() of keys never
// seen (key, owner: one lookup each) by an instance reading from the
// streaming replica of scripts/start-replica.sh, against the same instance
// shape reading from the primary, 16 in flight, alternating round by round.
// Needs KEYGATE_TEST_PRIMARY_URL and KEYGATE_TEST_REPLICA_URL
// (`eval "$(bash scripts/start-replica.sh)"`); the throwaway database is made
// on the primary and reaches the replica by replication. The CPU of the
// database backends serving each instance (from /proc: both servers run on
// this machine) gives the lookups one PostgreSQL core answers.
import { loadavg } from 'node:os'
import pg from 'pg'
import { backendCpu, backendCpuSince } from './lib/proc.js'
import { createAuthorizer, openStore } from '../dist/index.js'
import { bulkLoad } from './lib/bulk.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'

const PRIMARY = process.env.KEYGATE_TEST_PRIMARY_URL
const REPLICA = process.env.KEYGATE_TEST_REPLICA_URL
if (PRIMARY === undefined || REPLICA === undefined) throw new Error('cold-replica: eval "$(bash scripts/start-replica.sh)" first (KEYGATE_TEST_PRIMARY_URL, KEYGATE_TEST_REPLICA_URL)')
process.env.KEYGATE_BENCH_DATABASE_URL = PRIMARY
const { throwawayDatabase } = await import('./lib/db.js')

const ROUNDS = SMALL ? 3 : 5
const PER_ROUND = SMALL ? 1_000 : 3_000
const USERS = SMALL ? 10_000 : 50_000
const CONCURRENCY = 16

const db = await throwawayDatabase('coldreplica')
const closers = []
try {
  const keys = 2 * ROUNDS * PER_ROUND + 400
  log(`loading ${USERS} accounts and ${keys} keys on the primary`)
  const sample = await bulkLoad(db.url, { users: USERS, keys, keep: () => true, log })
  const replicaUrl = new URL(REPLICA)
  replicaUrl.pathname = new URL(db.url).pathname
  // Wait until the replica has the data.
  const probe = await openStore({ databaseUrl: replicaUrl.href, migrate: false })
  for (let tries = 0; ; tries++) {
    const { rows } = await probe.database.query('SELECT count(*)::int AS n FROM keygate_keys').catch(() => ({ rows: [{ n: 0 }] }))
    if (rows[0].n >= keys) break
    if (tries > 600) throw new Error('the replica did not catch up')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await probe.close()
  const onPrimary = await openStore({ databaseUrl: db.url })
  const onReplica = await openStore({ databaseUrl: db.url, replicaUrls: [replicaUrl.href] })
  const targets = [
    { name: 'primary', store: onPrimary, serverUrl: db.url },
    { name: 'replica', store: onReplica, serverUrl: replicaUrl.href }
  ]
  // The backends of this database on a server, other than the one asking.
  const onServer = async (url, fn) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end()
    }
  }
  for (const target of targets) {
    target.authorizer = await createAuthorizer({ store: target.store, throttle: false })
    closers.push(async () => { await target.authorizer.close(); await target.store.close() })
  }
  let next = 1
  const take = (n) => Array.from({ length: n }, () => sample.get(next++).key)
  const run = async (authorizer, list) => {
    let i = 0
    const start = performance.now()
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (i < list.length) {
        const key = list[i++]
        const d = await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${key}` }, scheme: 'https' })
        if (!d.allow) throw new Error(`refused: ${d.code}`)
      }
    }))
    return list.length / ((performance.now() - start) / 1000)
  }
  for (const target of targets) await run(target.authorizer, take(200)) // warm up
  const samples = await alternate(targets, ROUNDS, async (target, r) => {
    const before = await onServer(target.serverUrl, backendCpu)
    const rate = await run(target.authorizer, take(PER_ROUND))
    const pgCpuUs = await onServer(target.serverUrl, (client) => backendCpuSince(client, before)) * 1000 / PER_ROUND
    log(`round ${r} ${target.name}: ${round(rate)} cold lookups/s, PostgreSQL CPU ${round(pgCpuUs, 1)} µs each`)
    return { rate, pgCpuUs }
  })
  const stats = onReplica.database.readStats?.() ?? null
  log(`replica read stats: ${JSON.stringify(stats)}`)
  const base = med(samples.primary, 'rate')
  report('cold-replica', targets.map((target) => ({
    figure: 15,
    name: `cold authorize() per second, reading from the ${target.name}, ${CONCURRENCY} in flight`,
    value: round(med(samples[target.name], 'rate')),
    unit: 'lookups/s',
    baseline: { name: 'reading from the primary', value: round(base) },
    ratio: round(med(samples[target.name], 'rate') / base, 2),
    note: `PostgreSQL CPU ${round(med(samples[target.name], 'pgCpuUs'), 1)} µs per cold authorize() (about ${round(1e6 / med(samples[target.name], 'pgCpuUs'))} per PostgreSQL core-second); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
  })), { samples, readStats: stats })
} finally {
  for (const close of closers) await close().catch(() => {})
  await db.drop()
}
