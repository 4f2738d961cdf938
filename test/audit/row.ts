/** The stored form of an entry: its input apart, by hash, and the cache that spares memo hits the work. */
import t from 'tap'
import type { LogEntry } from '../../src/audit/entry.js'
import { entryOf, rowOf } from '../../src/audit/row.js'

const decision = (id: string, input: Record<string, unknown>): LogEntry =>
  ({ kind: 'decision', id, decision_id: id, timestamp: '2026-12-02T10:00:00.000Z', reason_codes: [], input } as unknown as LogEntry)

t.test('an input is stored once whatever its now, and read back whole', async (t) => {
  const request = Object.freeze({ method: 'GET', path: '/a' })
  const credential = Object.freeze({ type: 'secret_key', id: 'k1' })
  const first = rowOf(decision('d1', { version: 1, now: 1, request, credential }))
  const second = rowOf(decision('d2', { version: 1, now: 2, request, credential }))
  t.equal(second.input, first.input, 'the same frozen parts: the same stored input, not made again')
  t.equal(first.input?.text, JSON.stringify({ version: 1, now: 0, request, credential }))
  t.same(entryOf(second.text, second.input?.text ?? null), decision('d2', { version: 1, now: 2, request, credential }))
  t.equal(rowOf(decision('d1', { version: 1, now: 1, request, credential })).input?.hash, first.input?.hash)
})

t.test('inputs that differ in any part, or are not frozen, never share a stored input', async (t) => {
  const request = Object.freeze({ method: 'GET', path: '/a' })
  const base = rowOf(decision('d1', { version: 1, now: 1, request, credential: Object.freeze({ id: 'k1' }) }))
  const otherPart = rowOf(decision('d2', { version: 1, now: 1, request, credential: Object.freeze({ id: 'k2' }) }))
  t.not(otherPart.input?.hash, base.input?.hash, 'same first part, another second part')
  const otherScalar = rowOf(decision('d3', { version: 2, now: 1, request, credential: Object.freeze({ id: 'k1' }) }))
  t.not(otherScalar.input?.hash, base.input?.hash, 'a scalar part differs')
  const extra = rowOf(decision('d4', { version: 1, now: 1, request, credential: Object.freeze({ id: 'k1' }), runAs: [] }))
  t.not(extra.input?.hash, base.input?.hash, 'one more part')

  const open = { method: 'GET', path: '/b' }
  const before = rowOf(decision('d5', { version: 1, now: 1, request: open })).input?.hash
  open.path = '/c'
  t.not(rowOf(decision('d6', { version: 1, now: 1, request: open })).input?.hash, before, 'a part that can change is hashed each time')
})

t.test('an entry\'s row is made once', async (t) => {
  const entry = decision('d1', { version: 1, now: 1, request: { method: 'GET', path: '/a' } })
  t.equal(rowOf(entry), rowOf(entry))
})

t.test('NUL is dropped from the text, a backslash followed by u0000 is kept', async (t) => {
  const entry = decision('d1', { version: 1, now: 1, request: { path: '/a\u0000b\\u0000c\\\u0000d\\\\u0000' } })
  const row = rowOf(entry)
  t.same(JSON.parse(row.input?.text ?? ''), { version: 1, now: 0, request: { path: '/ab\\u0000c\\d\\\\u0000' } })
})
