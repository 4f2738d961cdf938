// Figure 17. What each index of the decision log costs PostgreSQL: the same
// short rows (decisions the memo answered, over 1,000 keys, as
// AuditStore.insert makes them) loaded with one COPY per batch of 500 into
// today's partition of the log's schema, with every index, with one of them
// dropped, and with none, each in a throwaway database of its own,
// alternating round by round. PostgreSQL CPU per row is read from its
// backends in /proc. Not in `npm run bench`: `node bench/log-indexes.js`.
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { openStore } from '../dist/index.js'
import { entryFor, rowOf } from '../dist/audit/row.js'
import { deepFreeze } from '../dist/lib/freeze.js'
import { uuidV7 } from '../dist/lib/uuid.js'
import { throwawayDatabase } from './lib/db.js'
import { backendCpu, backendCpuSince } from './lib/proc.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'

const ROUNDS = SMALL ? 3 : 5
const ROWS = SMALL ? 10_000 : 40_000
const BATCH = 500
const COLUMNS = '"timestamp", id, kind, event, decision_id, status, code, credential_type, key_id, key_prefix, subject, actor, client_address, reason_codes, input_hash, template_hash, entry'
const INDEXES = ['keygate_decision_log_decision', 'keygate_decision_log_time', 'keygate_decision_log_key', 'keygate_decision_log_subject', 'keygate_decision_log_actor', 'keygate_decision_log_security']

/** A memo entry per key (what src/authorizer/memo.ts keeps) and the short row of a hit on one. */
const memos = new Map()
function shortRow (i) {
  const n = String(i % 1000).padStart(20, '0')
  let memo = memos.get(n)
  if (memo === undefined) {
    const request = { method: 'POST', path: '/api/v1/bot/bot_123/update', scheme: 'https', queryAccessToken: false }
    memo = {
      result: { allow: true, status: 200, code: 'OK', reasons: [], subject: `usr_${n}`, actor: null, credential: { type: 'secret_key', id: `key_${n}`, prefix: 'sk-AbC123' }, action: { resource: 'bot', verb: 'update', class: 'write' }, decisionId: '', policyRevision: 'f8992424e32a32f8' },
      input: deepFreeze({
        version: 2,
        now: 0,
        request,
        credential: { type: 'secret_key', found: true, id: `key_${n}`, prefix: 'sk-AbC123', expiresAt: null, revoked: false, scopes: null, actorId: null },
        principal: { id: `usr_${n}`, parentId: null, role: 'user', status: 'active', restrictions: [] },
        actor: null,
        runAs: []
      })
    }
    memos.set(n, memo)
  }
  const now = Date.now()
  const r = memo.result
  return rowOf(entryFor({ result: { ...r, credential: { ...r.credential }, decisionId: uuidV7() }, input: { ...memo.input, now }, timestamp: new Date(now), durationMs: 0.091, policyMs: 0, memo, client: { address: '203.0.113.9' } }))
}

const targets = [
  { name: 'every index', drop: [] },
  ...INDEXES.slice(0, 4).map((index) => ({ name: `without ${index}`, drop: [index] })),
  { name: 'no index', drop: INDEXES }
]
try {
  for (const target of targets) {
    target.db = await throwawayDatabase('logidx')
    const store = await openStore({ databaseUrl: target.db.url })
    await store.close()
    target.client = new pg.Client({ connectionString: target.db.url })
    await target.client.connect()
    target.admin = new pg.Client({ connectionString: target.db.url })
    await target.admin.connect()
    await target.client.query('SELECT keygate_decision_log_partition(current_date)')
    for (const index of target.drop) await target.client.query(`DROP INDEX ${index}`)
  }
  const batches = () => {
    const out = []
    for (let i = 0; i < ROWS; i += BATCH) {
      const rows = Array.from({ length: BATCH }, (_, j) => shortRow(i + j))
      out.push({ rows, copy: rows.map((row) => row.copy).join('') })
    }
    return out
  }
  // The 1,000 keys' inputs and templates (the same every round: once per day and content), then only the rows are timed.
  const parts = batches().slice(0, 1000 / BATCH).flatMap((batch) => batch.rows)
    .flatMap((row) => [{ kind: 'i', hash: row.input.hash, text: row.input.text }, { kind: 't', hash: row.template.hash, text: row.template.text }])
  const copy = async (target, batch) => {
    await pipeline(Readable.from([batch.copy]), target.client.query(copyFrom(`COPY keygate_decision_log (${COLUMNS}) FROM STDIN`)))
  }
  for (const target of targets) {
    for (const [kind, table, column] of [['i', 'keygate_decision_inputs', 'input'], ['t', 'keygate_decision_templates', 'entry']]) {
      await target.client.query(
        `INSERT INTO ${table} (day, hash, ${column}) SELECT current_date, hash, text FROM json_to_recordset($1::json) AS p (hash text, text text) ON CONFLICT DO NOTHING`,
        [JSON.stringify(parts.filter((part) => part.kind === kind))])
    }
    for (const batch of batches().slice(0, 4)) await copy(target, batch) // warm up
  }
  const samples = await alternate(targets, ROUNDS, async (target) => {
    const work = batches()
    const before = await backendCpu(target.admin)
    for (const batch of work) await copy(target, batch)
    const pgCpuUs = await backendCpuSince(target.admin, before) * 1000 / ROWS
    log(`${target.name}: PostgreSQL ${round(pgCpuUs, 1)} µs CPU per row`)
    return { pgCpuUs }
  })
  const all = med(samples['every index'], 'pgCpuUs')
  report('log-indexes', targets.map((target) => ({
    figure: 17,
    name: `PostgreSQL CPU per short decision-log row, ${target.name}`,
    value: round(med(samples[target.name], 'pgCpuUs'), 1),
    unit: 'µs',
    baseline: { name: 'every index', value: round(all, 1) },
    ratio: round(med(samples[target.name], 'pgCpuUs') / all, 2),
    note: `${ROWS} rows per round, ${ROUNDS} rounds, batches of ${BATCH}, 1,000 keys`
  })), { rounds: ROUNDS, rowsPerRound: ROWS, batch: BATCH, samples })
} finally {
  for (const target of targets) {
    await target.client?.end().catch(() => {})
    await target.admin?.end().catch(() => {})
    await target.db?.drop()
  }
}
