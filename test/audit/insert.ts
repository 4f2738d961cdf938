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
    kind: 'decision', id, decision_id: id, timestamp: '2030-01-01T12:00:00.123Z', status: 403, code: 'NOT_AUTHORIZED',
    credential_type: 'secret_key', key_id: 'key_AlzGnrs6xezIEKFhyojk', key_prefix: 'sk-kSzunF', subject: 'usr_9M5iyLUU248IBVBelqtb',
    actor: null, client_address: '127.0.0.1', reason_codes: ['scope_insufficient', 'account_read_only', 'a'],
    path: 'keygate/authz/decision', input: null,
    result: { allow: false, status: 403, code: 'NOT_AUTHORIZED', reasons: [], subject: null, actor: null, action: null },
    bundles: { keygate: { revision: 'r' } }, metrics: { timer_keygate_authorize_ns: 1 }, impersonated: false,
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
    id: a.id, kind: 'decision', event: null, decision_id: a.id, timestamp: new Date('2030-01-01T12:00:00.123Z'), status: 403,
    code: 'NOT_AUTHORIZED', credential_type: 'secret_key', key_id: 'key_AlzGnrs6xezIEKFhyojk', key_prefix: 'sk-kSzunF',
    subject: 'usr_9M5iyLUU248IBVBelqtb', actor: null, client_address: '127.0.0.1',
    reason_codes: ['scope_insufficient', 'account_read_only', 'a'], entry: undefined
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
