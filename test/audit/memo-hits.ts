/**
 * The entries of decisions the memo answers are spliced from a template made
 * at the memo entry's first hit: entry, row, COPY line and spool line must be
 * what the slow way makes, and read back the same through the store and the
 * spool, whatever the client address and the input hold.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { AuthorizationResult, DecisionRecord } from '../../src/authorizer/result.js'
import { decisionEntry, type LogEntry } from '../../src/audit/entry.js'
import { copyLine, entryFor, rowOf } from '../../src/audit/row.js'
import { Spool } from '../../src/audit/spool.js'
import { AuditStore } from '../../src/audit/store.js'
import type { PolicyInput } from '../../src/policy/input.js'
import { deepFreeze } from '../../src/lib/freeze.js'
import { forEachDatabase } from '../helpers/databases.js'
import { tempDir } from '../helpers/temp.js'

const ODD_ADDRESSES = [
  '203.0.113.9', '::ffff:10.0.0.1', 'a\tb\nc\rd\\e"f{g},h', 'x\u0000y', '\\N', 'Bearer abcdefghijklmnop', `sk-${'A'.repeat(24)}`,
  'é😀'.repeat(30), '', undefined, null
]

/** A memo entry (what src/authorizer/memo.ts keeps) and the records of its hits, as Authorizer#remembered makes them. */
function memoOf (path: string, status: 200 | 403 = 200): { hit: (address: string | null | undefined, at: number) => DecisionRecord } {
  const result: AuthorizationResult = {
    allow: status === 200,
    status,
    code: status === 200 ? 'OK' : 'NOT_AUTHORIZED',
    reasons: status === 200 ? [] : [{ code: 'scope_insufficient', msg: `no scope for ${path}` }],
    subject: 'usr_9M5iyLUU248IBVBelqtb',
    actor: null,
    credential: { type: 'secret_key', id: 'key_AlzGnrs6xezIEKFhyojk', prefix: 'sk-kSzunF' },
    action: { resource: 'bot', verb: 'update', class: 'write' },
    decisionId: '',
    policyRevision: 'f8992424e32a32f8'
  }
  const input = deepFreeze({
    version: 2,
    now: 1,
    request: { method: 'POST', path, scheme: 'https', queryAccessToken: false },
    credential: { type: 'secret_key', found: true, id: 'key_AlzGnrs6xezIEKFhyojk', prefix: 'sk-kSzunF', expiresAt: null, revoked: false, scopes: ['a\tb'], actorId: null },
    principal: { id: 'usr_9M5iyLUU248IBVBelqtb', parentId: null, role: 'user', status: 'active', restrictions: [] },
    actor: null,
    runAs: []
  }) as unknown as PolicyInput
  const memo = { result, input }
  return {
    hit: (address, at) => ({
      result: { ...result, reasons: result.reasons.map((r) => ({ ...r })), credential: { ...result.credential }, action: { ...result.action } as AuthorizationResult['action'], decisionId: randomUUID() },
      input: { ...input, now: at },
      timestamp: new Date(at),
      durationMs: 0.0123456 + at % 7,
      policyMs: 0,
      memo,
      ...(address === undefined ? {} : { client: { address } })
    })
  }
}

/** Hits of two memo entries, one of them with an input full of characters to escape, interleaved, with every odd address. */
function hits (): DecisionRecord[] {
  const plain = memoOf('/api/v1/bot/bot_123/update')
  const tricky = memoOf('/a\tb\nc\r\\d"{e},\u00e9\u0000z\\u0000\\\\u0000', 403)
  const at = Date.parse('2030-01-01T12:00:00.000Z')
  return ODD_ADDRESSES.flatMap((address, i) => [plain.hit(address, at + 2 * i), tricky.hit(address, at + 2 * i + 1)])
}

t.test('a memo hit\'s entry, row and COPY line are the slow way\'s', async (t) => {
  const records = hits()
  const fast = records.map(entryFor)
  const slow = records.map(decisionEntry)
  t.equal(JSON.stringify(fast), JSON.stringify(slow), 'the same entries, fields in order')
  for (const [i, entry] of fast.entries()) {
    const spliced = rowOf(entry)
    const made = rowOf(slow[i] as LogEntry)
    if (i >= 2) t.not(spliced.copy, undefined, 'from the second hit on, spliced')
    t.equal(made.copy, undefined, 'the slow way')
    t.equal(spliced.text, made.text)
    t.same(spliced.columns, made.columns)
    t.equal(spliced.copy ?? copyLine(spliced.columns), copyLine(made.columns))
    t.same(spliced.input, made.input)
    t.equal(spliced.day, made.day)
  }
  t.equal(fast[4]?.client_address, 'a\tb\nc\rd\\e"f{g},h')
  t.equal(rowOf(fast[6] as LogEntry).columns[12], 'xy', 'NUL dropped')
  t.equal(fast[10]?.client_address, '[masked]')
  t.equal(fast[12]?.client_address, '[masked]')
  t.equal(fast[14]?.client_address?.length, 64)
  t.same(fast.slice(-6).map((e) => e.client_address), [null, null, null, null, null, null], 'no address, or an empty one')
})

t.test('memo hits read back through the store as the slow way\'s entries do', (t) => forEachDatabase(t, async (t, db) => {
  const store = new AuditStore(db)
  const records = hits()
  const listed = async (entries: LogEntry[]): Promise<string> => {
    await store.insert(entries)
    const page = await store.list({ take: 100 })
    await db.query('DELETE FROM keygate_decision_log')
    return JSON.stringify(page.items)
  }
  const slow = records.map(decisionEntry)
  const fromSlow = await listed(slow)
  t.equal(await listed(records.map(entryFor)), fromSlow, 'byte for byte')
  t.same((JSON.parse(fromSlow) as LogEntry[]).map((e) => e.id), slow.map((e) => e.id).reverse(), 'all of them')
}))

t.test('memo hits come back from the spool as the slow way\'s entries do', async (t) => {
  const directory = tempDir(t, 'memo-spool')
  const onError = (error: unknown): void => { t.fail(String(error)) }
  const records = hits()
  const throughSpool = async (entries: LogEntry[]): Promise<string> => {
    const first = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
    await Promise.all(entries.map(async (entry, i) => { await first.append(entry, i + 1) }))
    await first.close()
    const second = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
    const claimed = await second.claimOrphans()
    await claimed.done()
    await second.close()
    return JSON.stringify(claimed.entries)
  }
  const fromSlow = await throughSpool(records.map(decisionEntry))
  t.equal(await throughSpool(records.map(entryFor)), fromSlow, 'byte for byte')
  t.same((JSON.parse(fromSlow) as LogEntry[]).map((e) => e.id), records.map((r) => r.result.decisionId), 'all of them')
})
