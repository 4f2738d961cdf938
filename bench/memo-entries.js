// Keygate's CPU per logged decision for a stream of decisions the memo
// answers (one request over and over, as a busy client sends it), in this
// process: Audit.record (entry, usage, security), the spool's lines and the
// store's COPY text, against a database that takes everything and does
// nothing. Run with `node bench/memo-entries.js` after `npm run build`.
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Audit } from '../dist/audit/index.js'
import { deepFreeze } from '../dist/lib/freeze.js'

const N = Number(process.env.ENTRIES ?? 200_000)
const ROUNDS = 5
let copied = 0
const database = {
  driver: 'pg',
  query: async () => ({ rows: [] }),
  read: async () => ({ rows: [] }),
  transaction: async (fn) => await fn(database),
  copyFrom: async (_sql, data) => { copied += data.length },
  listen: async () => async () => {},
  close: async () => {}
}
const store = { database, touchKeys: async () => {} }

const keyId = `key_${'0'.repeat(20)}`
const subject = `usr_${'0'.repeat(20)}`
// What the memo keeps of one decision (an allowed write: never dropped, so spooled too).
const memo = {
  result: {
    allow: true,
    status: 200,
    code: 'OK',
    reasons: [],
    subject,
    actor: null,
    credential: { type: 'secret_key', id: keyId, prefix: 'sk-AbC123' },
    action: { resource: 'bot', verb: 'update', class: 'write' },
    decisionId: '',
    policyRevision: 'f8992424e32a32f8'
  },
  input: deepFreeze({
    version: 2,
    now: Date.now(),
    request: { method: 'POST', path: '/api/v1/bot/bot_123/update', scheme: 'https', queryAccessToken: false },
    credential: { type: 'secret_key', found: true, id: keyId, prefix: 'sk-AbC123', expiresAt: null, revoked: false, scopes: null, actorId: null },
    principal: { id: subject, parentId: null, role: 'user', status: 'active', restrictions: [] },
    actor: null,
    runAs: []
  })
}
const client = { address: '203.0.113.9' }
/** A record as the authorizer makes it for a memo hit (src/authorizer/authorizer.ts, #remembered). */
function hit () {
  const now = Date.now()
  const r = memo.result
  return {
    result: { ...r, reasons: [], credential: { ...r.credential }, action: { ...r.action }, decisionId: randomUUID() },
    input: { ...memo.input, now },
    timestamp: new Date(now),
    durationMs: 0.021,
    policyMs: 0,
    memo,
    client
  }
}

const directory = await mkdtemp(join(tmpdir(), 'memo-entries-'))
const audit = await Audit.open({
  store,
  config: { spoolDirectory: directory, spoolSyncIntervalMs: 1000, flushIntervalMs: 50 },
  cleanupIntervalMs: 0,
  onError: (error, context) => { console.error(context, error) }
})
try {
  const perEntry = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.cpuUsage()
    for (let i = 0; i < N; i += 500) {
      const waits = []
      for (let j = 0; j < 500; j++) {
        const waited = audit.record(hit())
        if (waited !== undefined) waits.push(waited)
      }
      await Promise.all(waits)
      // Let the log's batches go, as the event loop would between requests.
      await new Promise((resolve) => setImmediate(resolve))
    }
    await audit.flush()
    const used = process.cpuUsage(start)
    perEntry.push((used.user + used.system) / N)
  }
  const sorted = [...perEntry].sort((a, b) => a - b)
  console.log(`CPU per memo-hit entry (µs), ${ROUNDS} rounds of ${N}: ${perEntry.map((v) => v.toFixed(2)).join(' ')}; median ${sorted[Math.floor(ROUNDS / 2)].toFixed(2)}`)
  console.log(`written ${audit.log.stats.written}, COPY bytes per entry ${(copied / audit.log.stats.written).toFixed(0)}`)
} finally {
  await audit.close()
  await rm(directory, { recursive: true, force: true })
}
