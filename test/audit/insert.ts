/**
 * AuditStore.insert sends a batch as one JSON parameter: every column comes
 * out as the entry had it, NUL characters are dropped, reason codes keep their
 * order, and an entry written twice is kept once.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { LogEntry } from '../../src/audit/entry.js'
import { AuditStore } from '../../src/audit/store.js'
import { forEachDatabase } from '../helpers/databases.js'

function decision (overrides: Record<string, unknown> = {}): LogEntry {
  const id = randomUUID()
  return {
    kind: 'decision',
    id,
    decision_id: id,
    timestamp: '2030-01-01T12:00:00.123Z',
    status: 403,
    code: 'NOT_AUTHORIZED',
    credential_type: 'secret_key',
    key_id: 'key_AlzGnrs6xezIEKFhyojk',
    key_prefix: 'sk-kSzunF',
    subject: 'usr_9M5iyLUU248IBVBelqtb',
    actor: null,
    client_address: '127.0.0.1',
    reason_codes: ['scope_insufficient', 'account_read_only', 'a'],
    path: 'keygate/authz/decision',
    input: null,
    result: { allow: false, status: 403, code: 'NOT_AUTHORIZED', reasons: [], subject: null, actor: null, action: null },
    bundles: { keygate: { revision: 'r' } },
    metrics: { timer_keygate_authorize_ns: 1 },
    impersonated: false,
    request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' },
    ...overrides
  } as unknown as LogEntry
}

t.test('columns, NUL, order of reason codes, duplicates', (t) => forEachDatabase(t, async (t, db) => {
  const store = new AuditStore(db)
  const a = decision()
  const b = decision({ subject: 'usr_with\u0000nul', request: { method: 'GET', path: '/a\u0000b', scheme: 'https' }, status: null, reason_codes: [] })
  const event = { ...decision(), kind: 'security', event: 'unauthenticated_burst', count: 20, window_seconds: 60, group: { key_prefix: 'sk-kSzunF' }, msg: 'burst' } as unknown as LogEntry
  await store.insert([a, b, event])
  await store.insert([a]) // a retried batch
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT id, kind, event, decision_id, "timestamp", status, code, credential_type, key_id, key_prefix, subject, actor,
            client_address, reason_codes, entry FROM keygate_decisions ORDER BY "timestamp", id`)
  t.equal(rows.length, 3, 'the retried entry is there once')
  const byId = new Map(rows.map((r) => [r.id, r]))
  const ra = byId.get(a.id) as Record<string, unknown>
  t.same({ ...ra, entry: undefined }, {
    id: a.id,
    kind: 'decision',
    event: null,
    decision_id: a.id,
    timestamp: new Date('2030-01-01T12:00:00.123Z'),
    status: 403,
    code: 'NOT_AUTHORIZED',
    credential_type: 'secret_key',
    key_id: 'key_AlzGnrs6xezIEKFhyojk',
    key_prefix: 'sk-kSzunF',
    subject: 'usr_9M5iyLUU248IBVBelqtb',
    actor: null,
    client_address: '127.0.0.1',
    reason_codes: ['scope_insufficient', 'account_read_only', 'a'],
    entry: undefined
  })
  t.same(ra.entry, JSON.parse(JSON.stringify(a)), 'the whole entry as jsonb')
  const rb = byId.get(b.id) as Record<string, unknown>
  t.equal(rb.subject, 'usr_withnul')
  t.equal(rb.status, null)
  t.same(rb.reason_codes, [])
  t.equal((rb.entry as { request: { path: string } }).request.path, '/ab')
  const re = byId.get(event.id) as Record<string, unknown>
  t.equal(re.kind, 'security')
  t.equal(re.event, 'unauthenticated_burst')
}))

t.test('inputs stored once per day and content; escapes; entries read back whole and in order', (t) => forEachDatabase(t, async (t, db) => {
  const store = new AuditStore(db)
  const input = (now: number, path: string): unknown => ({
    version: 2,
    now,
    request: { method: 'GET', path, scheme: 'https' },
    credential: { type: 'secret_key', found: true },
    principal: null,
    actor: null,
    runAs: []
  })
  const tricky = '/a\tb\nc\r\\d"{e},\u00e9'
  const first = decision({ timestamp: '2030-01-01T12:00:00.001Z', input: input(1, '/same'), reason_codes: ['x"y', 'b\\c', 'd,e', '{f}'] })
  const second = decision({ timestamp: '2030-01-01T12:00:00.002Z', input: input(2, '/same') })
  const third = decision({ timestamp: '2030-01-01T12:00:00.003Z', input: input(3, tricky), client_address: tricky })
  const nextDay = decision({ timestamp: '2030-01-02T00:00:00.000Z', input: input(4, '/same') })
  await store.insert([first, second, third, nextDay])

  const inputs = (await db.query<{ day: string; n: number }>(
    "SELECT to_char(day, 'YYYY-MM-DD') AS day, count(*)::int AS n FROM keygate_decision_inputs GROUP BY day ORDER BY day")).rows
  t.same(inputs, [{ day: '2030-01-01', n: 2 }, { day: '2030-01-02', n: 1 }], 'one input row per day and content (now aside)')

  const page = await store.list({ take: 10 })
  t.equal(JSON.stringify(page.items), JSON.stringify([nextDay, third, second, first]), 'every entry as written, fields in order')
  const { rows } = await db.query<{ id: string; entry: unknown; reason_codes: string[]; client_address: string }>(
    'SELECT id, entry, reason_codes, client_address FROM keygate_decisions')
  const byId = new Map(rows.map((r) => [r.id, r]))
  t.same(byId.get(first.id)?.entry, first, 'the view keygate_decisions gives the whole entry as jsonb')
  t.same(byId.get(first.id)?.reason_codes, ['x"y', 'b\\c', 'd,e', '{f}'], 'array elements quoted')
  t.equal(byId.get(third.id)?.client_address, tricky, 'tabs, newlines, backslashes survive COPY')
  t.same(byId.get(third.id)?.entry, third)
  t.same((await store.list({ decisionId: second.id })).items, [second])
}))

t.test('instances making the same day\'s partitions at once: one makes them, none fails', (t) => forEachDatabase(t, async (t, db) => {
  const made = await Promise.all(Array.from({ length: 8 }, async () =>
    (await db.query<{ made: boolean }>("SELECT keygate_decision_log_partition('2031-03-04') AS made")).rows[0]?.made))
  t.equal(made.filter((m) => m === true).length, 1)
  await new AuditStore(db).insert([decision({ timestamp: '2031-03-04T10:00:00.000Z' })])
  t.equal((await db.query('SELECT 1 FROM keygate_decision_log_p20310304')).rows.length, 1)
  const tables = async (): Promise<string[]> => (await db.query<{ name: string }>(
    "SELECT relname AS name FROM pg_class WHERE relname LIKE 'keygate_decision_%_p20310304' ORDER BY relname")).rows.map((r) => r.name)
  t.same(await tables(), ['keygate_decision_inputs_p20310304', 'keygate_decision_log_p20310304', 'keygate_decision_templates_p20310304'])
  // A day made by an instance from before migration 012: its templates' partition is made by the next call.
  await db.query('DROP TABLE keygate_decision_templates_p20310304')
  t.equal((await db.query<{ made: boolean }>("SELECT keygate_decision_log_partition('2031-03-04') AS made")).rows[0]?.made, false, 'the log\'s partition was there')
  t.same(await tables(), ['keygate_decision_inputs_p20310304', 'keygate_decision_log_p20310304', 'keygate_decision_templates_p20310304'], 'the templates\' made again')
}))
