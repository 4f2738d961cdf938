import t from 'tap'
import { Audit, AuditStore, type LogEntry } from '../../src/audit/index.js'
import { forEachDatabase } from '../helpers/databases.js'

const DAY = 86_400_000

function entry (id: string, at: Date, kind: 'decision' | 'security' = 'decision'): LogEntry {
  const base = {
    id,
    decision_id: id,
    timestamp: at.toISOString(),
    status: 200,
    code: 'OK',
    credential_type: 'secret_key' as const,
    key_id: null,
    key_prefix: null,
    subject: 'usr_AAAAAAAAAAAAAAAAAAAA',
    actor: null,
    client_address: null,
    reason_codes: [],
    request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' }
  }
  return kind === 'decision'
    ? { ...base, kind, path: 'keygate/authz/decision', input: null, result: { allow: true, status: 200, code: 'OK', reasons: [], subject: null, actor: null, action: null }, bundles: { keygate: { revision: '' } }, metrics: { timer_keygate_authorize_ns: 1 }, impersonated: false }
    : { ...base, kind, event: 'unauthenticated_burst', count: 20, window_seconds: 60, group: {}, msg: 'm' }
}

t.test('retention cleanup removes old rows only, in bounded batches', (t) => forEachDatabase(t, async (t, db, store) => {
  const now = Date.parse('2030-06-15T12:00:00.000Z')
  const audit = await Audit.open({ store, config: { sinks: [{ type: 'postgres' }], retentionDays: 30 }, cleanupIntervalMs: 0, clock: () => now })
  t.teardown(async () => { await audit.close() })
  const rows: LogEntry[] = []
  for (let i = 0; i < 25; i++) rows.push(entry(`old-${i}`, new Date(now - 31 * DAY - i * 1000), i % 5 === 0 ? 'security' : 'decision'))
  for (let i = 0; i < 10; i++) rows.push(entry(`new-${i}`, new Date(now - 29 * DAY + i * 1000)))
  rows.push(entry('edge-kept', new Date(now - 30 * DAY + 1)))
  await new AuditStore(db).insert(rows)
  await new AuditStore(db).addDailyUsage([
    { keyId: 'key_AAAAAAAAAAAAAAAAAAAA', day: '2030-05-01', requests: 5, denied: 1, lastUsedAt: new Date('2030-05-01T10:00:00Z') },
    { keyId: 'key_AAAAAAAAAAAAAAAAAAAA', day: '2030-06-14', requests: 2, denied: 0, lastUsedAt: new Date('2030-06-14T10:00:00Z') }
  ])

  const deleted = await audit.cleanup({ batchSize: 4 })
  t.equal(deleted, 25)
  const left = (await db.query<{ id: string }>('SELECT id FROM keygate_decisions ORDER BY id')).rows.map((r) => r.id)
  t.same(left, ['edge-kept', ...Array.from({ length: 10 }, (_, i) => `new-${i}`)])
  const days = (await db.query<{ day: string }>("SELECT to_char(day, 'YYYY-MM-DD') AS day FROM keygate_key_usage_daily")).rows.map((r) => r.day)
  t.same(days, ['2030-06-14'], 'daily usage too')
  const parts = (await db.query<{ name: string }>(
    "SELECT relname AS name FROM pg_class WHERE relname ~ '^keygate_decision_(log|inputs|templates)_p2030051[56]$' ORDER BY relname")).rows.map((r) => r.name)
  t.same(parts, ['keygate_decision_inputs_p20300516', 'keygate_decision_log_p20300516', 'keygate_decision_templates_p20300516'],
    'the old day\'s partitions are dropped, its inputs\' and templates\' too')
  t.equal(await audit.cleanup(), 0, 'nothing more to do')

  const keepAll = await Audit.open({ store, config: { sinks: [], retentionDays: 0 }, cleanupIntervalMs: 0, clock: () => now + 365 * DAY })
  t.teardown(async () => { await keepAll.close() })
  t.equal(await keepAll.cleanup(), 0, 'retention 0 keeps everything')
  t.equal((await db.query('SELECT 1 FROM keygate_decisions')).rows.length, 11)
}))
