// Figure 4. The cold path: 1,000,000 keys and 100,000 accounts in PostgreSQL
// (--small: 100,000 and 10,000), every authorize() a cache miss (a key never
// presented before, owned by an account never looked up before). Sequential
// calls for latency; the baseline is the same lookup (the key by hash joined
// with its owner, one round trip, as Keygate makes it) through a bare `pg`
// pool, on other keys of the same table, alternating with Keygate round by round.
import { createHash } from 'node:crypto'
import pg from 'pg'
import { createAuthorizer } from '../dist/index.js'
import { bulkLoad, USER_ID } from './lib/bulk.js'
import { throwawayDatabase } from './lib/db.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'
import { percentile } from './lib/stats.js'

const USERS = SMALL ? 10_000 : 100_000
const KEYS = SMALL ? 100_000 : 1_000_000
const ROUNDS = SMALL ? 3 : 5
const PER_ROUND = SMALL ? 500 : 3_000
const CONCURRENCY = 16

const PARENTS = USERS / 10
const WARM_UP = 400

const db = await throwawayDatabase('cold')
try {
  log(`loading ${USERS} accounts and ${KEYS} keys`)
  // Keys 1..USERS belong to accounts 1..USERS: the plain variants take them in order.
  const plainKeys = 4 * ROUNDS * PER_ROUND + WARM_UP
  // Impersonation: children from the top of the account range (never used by the plain
  // variants), each with a key of its parent that nothing else presents: child c of parent
  // p = ((c - 1) mod PARENTS) + 1 is c = p + k * PARENTS, and key p + k * USERS is p's k-th.
  const children = Array.from({ length: ROUNDS * PER_ROUND }, (_, i) => USERS - i)
  if (plainKeys >= USERS - children.length) throw new Error('not enough accounts for cold lookups only')
  const parentKeyOf = (c) => { const p = ((c - 1) % PARENTS) + 1; return p + ((c - p) / PARENTS) * USERS }
  const wanted = new Set(children.map(parentKeyOf))
  const sample = await bulkLoad(db.url, { users: USERS, keys: KEYS, keep: (j) => j <= plainKeys || wanted.has(j), log })
  let next = 1
  const take = (n) => { const slice = []; for (let i = 0; i < n; i++) slice.push(sample.get(next++)); return slice }
  let nextChild = 0
  const takeChildren = (n) => {
    const slice = children.slice(nextChild, nextChild + n)
    nextChild += n
    return slice.map((c) => ({ userId: USER_ID(c), parentKey: sample.get(parentKeyOf(c)).key }))
  }

  // Nothing cached anywhere in Keygate: a new authorizer, every key and owner seen once.
  const authorizer = await createAuthorizer({ databaseUrl: db.url })
  const pool = new pg.Pool({ connectionString: db.url, max: 10 })
  pool.on('error', () => {}) // an idle connection cut when the throwaway database is dropped

  const keygate = async (entry) => {
    const d = await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${entry.key}` }, scheme: 'https' })
    if (!d.allow) throw new Error(`refused: ${d.code}`)
  }
  const impersonating = async (entry) => {
    // A parent's key acting as one of its children: key, parent and child all looked up.
    const d = await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${entry.parentKey}`, 'x-runas-user-id': entry.userId }, scheme: 'https' })
    if (!d.allow) throw new Error(`refused: ${d.code} ${JSON.stringify(d.reasons)}`)
  }
  const bare = async (entry) => {
    const hash = createHash('sha256').update(entry.key).digest()
    const { rows: [row] } = await pool.query(
      `SELECT k.id, k.user_id, k.prefix, k.scopes, k.expires_at, k.revoked_at, u.id AS owner_id, u.parent_id, u.role, u.restrictions, u.disabled, u.deleted_at
       FROM keygate_keys k LEFT JOIN keygate_users u ON u.id = k.user_id WHERE k.hash = $1`, [hash])
    if (row?.owner_id == null) throw new Error('owner not found')
  }

  const sequential = async (fn, entries) => {
    const times = new Float64Array(entries.length)
    const start = performance.now()
    for (let i = 0; i < entries.length; i++) {
      const t0 = performance.now()
      await fn(entries[i])
      times[i] = performance.now() - t0
    }
    return { rate: entries.length / ((performance.now() - start) / 1000), p50: percentile(times, 50), p99: percentile(times, 99) }
  }
  const concurrent = async (fn, entries) => {
    const times = new Float64Array(entries.length)
    let i = 0
    const start = performance.now()
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (i < entries.length) {
        const n = i++
        const t0 = performance.now()
        await fn(entries[n])
        times[n] = performance.now() - t0
      }
    }))
    return { rate: entries.length / ((performance.now() - start) / 1000), p50: percentile(times, 50), p99: percentile(times, 99) }
  }

  const variants = [
    { name: 'keygate', run: (n) => sequential(keygate, take(n)) },
    { name: 'bare-pg', run: (n) => sequential(bare, take(n)) },
    { name: 'keygate-concurrent', run: (n) => concurrent(keygate, take(n)) },
    { name: 'bare-pg-concurrent', run: (n) => concurrent(bare, take(n)) },
    {
      name: 'keygate-impersonating',
      run: (n) => sequential(impersonating, takeChildren(n))
    }
  ]
  await sequential(keygate, take(WARM_UP / 2)) // warm-up: JIT and the pool's connections
  await sequential(bare, take(WARM_UP / 2))
  const samples = await alternate(variants, ROUNDS, async (v, r) => {
    const s = await v.run(PER_ROUND)
    log(`round ${r} ${v.name.padEnd(22)} ${String(Math.round(s.rate)).padStart(6)}/s  p50 ${s.p50.toFixed(3)} ms  p99 ${s.p99.toFixed(3)} ms`)
    return s
  })
  const m = (name, field) => med(samples[name], field)
  const rows = [
    {
      figure: 4,
      name: `cold authorize(), key + owner never seen (${KEYS.toLocaleString('en')} keys, ${USERS.toLocaleString('en')} accounts), sequential`,
      value: round(m('keygate', 'p99'), 3),
      unit: 'ms p99',
      p50: `${round(m('keygate', 'p50'), 3)} ms`,
      baseline: { name: 'bare pg: the same lookup (key joined with its owner)', value: round(m('bare-pg', 'p99'), 3), p50: `${round(m('bare-pg', 'p50'), 3)} ms` },
      ratio: round(m('keygate', 'p99') / m('bare-pg', 'p99'), 2),
      target: 'p99 ≤ 2 ms',
      met: m('keygate', 'p99') <= 2
    },
    {
      figure: 4,
      name: `cold authorize(), ${CONCURRENCY} in flight`,
      value: round(m('keygate-concurrent', 'p99'), 3),
      unit: 'ms p99',
      p50: `${round(m('keygate-concurrent', 'p50'), 3)} ms`,
      throughput: `${round(m('keygate-concurrent', 'rate'))}/s`,
      baseline: { name: `bare pg, ${CONCURRENCY} in flight`, value: round(m('bare-pg-concurrent', 'p99'), 3), p50: `${round(m('bare-pg-concurrent', 'p50'), 3)} ms`, throughput: `${round(m('bare-pg-concurrent', 'rate'))}/s` },
      ratio: round(m('keygate-concurrent', 'p99') / m('bare-pg-concurrent', 'p99'), 2)
    },
    {
      figure: 4,
      name: 'cold authorize() with X-RunAs-User-ID: key and child never seen (the parent account may be cached), sequential',
      value: round(m('keygate-impersonating', 'p99'), 3),
      unit: 'ms p99',
      p50: `${round(m('keygate-impersonating', 'p50'), 3)} ms`,
      target: 'p99 ≤ 2 ms',
      met: m('keygate-impersonating', 'p99') <= 2
    }
  ]
  await authorizer.close()
  await pool.end()
  report('cold-path', rows, { users: USERS, keys: KEYS, rounds: ROUNDS, perRound: PER_ROUND, concurrency: CONCURRENCY, samples })
} finally {
  await db.drop()
}
