// Figure 13. Decision-log rows per second per database: Keygate's own write
// path (AuditStore.insert: one COPY per batch of 500 entries into today's
// partition, inputs stored once by hash, the log's indexes) from 1 and 2
// writers at once (instances sharing one log database), and for decisions the
// memo answered (short rows, their templates stored once by hash), against a
// bare COPY of the whole entries' text into a table with no index,
// alternating round by round. PostgreSQL CPU per row is read from its backends in /proc: its
// inverse is rows per PostgreSQL core-second, the figure that holds on an idle
// machine too.
import { loadavg } from 'node:os'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { openStore } from '../dist/index.js'
import { AuditStore } from '../dist/audit/index.js'
import { entryFor } from '../dist/audit/row.js'
import { deepFreeze } from '../dist/lib/freeze.js'
import { uuidV7 } from '../dist/lib/uuid.js'
import { throwawayDatabase } from './lib/db.js'
import { backendCpu, backendCpuSince } from './lib/proc.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'

const ROUNDS = SMALL ? 3 : 5
const ROWS = SMALL ? 10_000 : 40_000
const BATCH = 500

/** An allowed write as the log records it: about 1.2 KB, most of it the policy input. */
function entry (i) {
  const id = uuidV7()
  return {
    kind: 'decision',
    id,
    decision_id: id,
    timestamp: new Date().toISOString(),
    path: 'keygate/authz/decision',
    status: 200,
    code: 'OK',
    credential_type: 'secret_key',
    key_id: `key_${String(i % 1000).padStart(20, '0')}`,
    key_prefix: 'sk-AbC123',
    subject: `usr_${String(i % 1000).padStart(20, '0')}`,
    actor: null,
    impersonated: false,
    client_address: '203.0.113.9',
    reason_codes: [],
    request: { method: 'POST', path: '/api/v1/bot/bot_123/update', scheme: 'https' },
    input: {
      version: 2,
      now: Date.now(),
      request: { method: 'POST', path: '/api/v1/bot/bot_123/update', scheme: 'https' },
      credential: { type: 'secret_key', found: true, id: `key_${String(i % 1000).padStart(20, '0')}`, prefix: 'sk-AbC123', expiresAt: null, revoked: false, scopes: null, actorId: null },
      principal: { id: `usr_${String(i % 1000).padStart(20, '0')}`, parentId: null, role: 'user', status: 'active', restrictions: [] },
      actor: null,
      runAs: []
    },
    result: { allow: true, status: 200, code: 'OK', reasons: [], subject: `usr_${String(i % 1000).padStart(20, '0')}`, actor: null, action: { resource: 'bot', verb: 'update', class: 'write' } },
    bundles: { keygate: { revision: 'f8992424e32a32f8' } },
    metrics: { timer_keygate_authorize_ns: 91_000 }
  }
}

/** The decision memo's entries, one per key (as src/authorizer/memo.ts keeps them), and a record of a hit on one (Authorizer#remembered). */
const memos = new Map()
function memoHit (i) {
  const key = i % 1000
  let memo = memos.get(key)
  if (memo === undefined) {
    const e = entry(i)
    memo = {
      result: { allow: true, status: 200, code: 'OK', reasons: [], subject: e.subject, actor: null, credential: { type: 'secret_key', id: e.key_id, prefix: e.key_prefix }, action: e.result.action, decisionId: '', policyRevision: 'f8992424e32a32f8' },
      input: deepFreeze({ ...e.input, request: { ...e.input.request, queryAccessToken: false } })
    }
    memos.set(key, memo)
  }
  const now = Date.now()
  const r = memo.result
  return entryFor({
    result: { ...r, credential: { ...r.credential }, decisionId: uuidV7() },
    input: { ...memo.input, now },
    timestamp: new Date(now),
    durationMs: 0.091,
    policyMs: 0,
    memo,
    client: { address: '203.0.113.9' }
  })
}

const db = await throwawayDatabase('logrows')
const admin = new pg.Client({ connectionString: db.url })
const stores = []
try {
  stores.push(await openStore({ databaseUrl: db.url }), await openStore({ databaseUrl: db.url }))
  const audits = stores.map((store) => new AuditStore(store.database))
  await audits[0].prepareDaysAround(Date.now())
  await admin.connect()
  await admin.query('CREATE TABLE bare_log (entry text)')
  const batches = (n, make = entry) => {
    const out = []
    for (let i = 0; i < n; i += BATCH) out.push(Array.from({ length: Math.min(BATCH, n - i) }, (_, j) => make(i + j)))
    return out
  }
  const bareClient = new pg.Client({ connectionString: db.url })
  await bareClient.connect()
  stores.push({ close: () => bareClient.end() })
  const bare = async (part) => {
    const text = part.map((e) => JSON.stringify(e).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n') + '\n').join('')
    await pipeline(Readable.from([text]), bareClient.query(copyFrom('COPY bare_log (entry) FROM STDIN')))
  }
  const targets = [
    { name: 'keygate, 1 writer', writers: 1, write: (w, part) => audits[w].insert(part) },
    { name: 'keygate, 2 writers', writers: 2, write: (w, part) => audits[w].insert(part) },
    { name: 'keygate, memo hits (short rows), 1 writer', writers: 1, make: memoHit, write: (w, part) => audits[w].insert(part) },
    { name: 'bare COPY, no index', writers: 1, write: (_w, part) => bare(part) }
  ]
  for (const target of targets) for (const part of batches(2_000, target.make)) await target.write(0, part) // warm up
  const samples = await alternate(targets, ROUNDS, async (target) => {
    const work = batches(ROWS, target.make)
    const cpuBefore = await backendCpu(admin)
    const start = process.hrtime.bigint()
    await Promise.all(Array.from({ length: target.writers }, async (_, w) => {
      for (let i = w; i < work.length; i += target.writers) await target.write(w, work[i])
    }))
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    const pgCpuUs = await backendCpuSince(admin, cpuBefore) * 1000 / ROWS
    log(`${target.name}: ${round(ROWS / seconds)} rows/s, PostgreSQL ${round(pgCpuUs, 1)} µs CPU per row`)
    return { rowsPerSecond: ROWS / seconds, pgCpuUs }
  })
  const baseline = med(samples['bare COPY, no index'], 'rowsPerSecond')
  const rows = targets.map((target) => ({
    figure: 13,
    name: `decision-log rows/s, ${target.name}`,
    value: round(med(samples[target.name], 'rowsPerSecond')),
    unit: 'rows/s',
    baseline: { name: 'bare COPY, no index', value: round(baseline) },
    ratio: round(med(samples[target.name], 'rowsPerSecond') / baseline, 2),
    note: `PostgreSQL ${round(med(samples[target.name], 'pgCpuUs'), 1)} µs CPU per row (${round(1e6 / med(samples[target.name], 'pgCpuUs'))} rows per PostgreSQL core-second); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
  }))
  report('log-rows', rows, { samples, rowsPerRound: ROWS, batch: BATCH })
} finally {
  await admin.end().catch(() => {})
  for (const store of stores) await store.close()
  await db.drop()
}
