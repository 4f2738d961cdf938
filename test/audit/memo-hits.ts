/**
 * The entries of decisions the memo answers are spliced from a template made
 * at the memo entry's first hit: entry, row, COPY line and spool line must be
 * what the slow way makes, and read back the same through the store and the
 * spool, whatever the client address and the input hold.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import type { AuthorizationResult, DecisionRecord } from '../../src/authorizer/result.js'
import { decisionEntry, type LogEntry } from '../../src/audit/entry.js'
import { copyLine, entryFor, entryOf, rowOf, type StoredPart } from '../../src/audit/row.js'
import { Spool } from '../../src/audit/spool.js'
import { AuditStore } from '../../src/audit/store.js'
import type { PolicyInput } from '../../src/policy/input.js'
import { deepFreeze } from '../../src/lib/freeze.js'
import { forEachDatabase } from '../helpers/databases.js'
import { tempDir } from '../helpers/temp.js'

const ODD_ADDRESSES = [
  '203.0.113.9', '::ffff:10.0.0.1', 'a\tb\nc\rd\\e"f{g},h', 'x\u0000y', '\\N', 'Bearer abcdefghijklmnop', `sk-${'A'.repeat(24)}`,
  'é😀'.repeat(30), 'lone \ud800 surrogate', 'a"b\u2028\u007f', '\u001f', '', undefined, null
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
    t.equal(made.copy, undefined, 'the slow way')
    t.equal(made.template, null)
    t.equal(spliced.text, made.text, 'the whole text, as the spool keeps it')
    t.same(spliced.input, made.input)
    t.equal(spliced.day, made.day)
    t.not(spliced.copy, undefined, 'spliced, the first hit too (its template is made from it)')
    t.equal(spliced.copy, copyLine(spliced.columns))
    const template = spliced.template as StoredPart
    t.same(spliced.columns.slice(0, -2), made.columns.slice(0, -2), 'the same columns but the last two')
    t.equal(spliced.columns.at(-2), template.hash, 'template_hash')
    t.equal(template, rowOf(fast[i % 2 + 2] as LogEntry).template, 'one template per memo entry')
    const short = spliced.columns.at(-1) as string
    t.same(Object.keys(JSON.parse(short) as object), ['input', 'metrics'], 'the entry column: the fields that vary and are not columns')
    t.ok(short.length < 100, `a short entry column (${short.length} characters against ${(made.columns.at(-1) as string).length})`)
    const columns = { id: entry.id, decision_id: entry.decision_id, timestamp: entry.timestamp, client_address: spliced.columns[12] as string | null }
    t.equal(JSON.stringify(entryOf(short, spliced.input?.text ?? null, { text: template.text, columns })), JSON.stringify(entryOf(made.text, made.input?.text ?? null)),
      'read back, the template with the row\'s fields over it is the slow way\'s entry, fields in order')
    t.notMatch(template.text, entry.id, 'the template holds no decision\'s own id')
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
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM keygate_decision_templates')
  t.equal(rows[0]?.n, 2, 'a template per memo entry and day')
  await store.insert(records.map(entryFor))
  const view = (await db.query<{ entry: LogEntry }>('SELECT entry FROM keygate_decisions ORDER BY "timestamp"')).rows.map((r) => r.entry)
  t.same(view, (JSON.parse(fromSlow) as LogEntry[]).reverse(), 'the view keygate_decisions puts the entries together too (as jsonb: fields in its order)')
}))

t.test('memo hits come back from the spool as the slow way\'s entries do', async (t) => {
  const directory = tempDir(t, 'memo-spool')
  const onError = (error: unknown): void => { t.fail(String(error)) }
  const records = hits()
  const lines: string[][] = []
  const throughSpool = async (entries: LogEntry[]): Promise<string> => {
    const first = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
    await Promise.all(entries.map(async (entry, i) => { await first.append(entry, i + 1) }))
    await first.close()
    lines.push((await readdir(directory)).flatMap((file) => readFileSync(join(directory, file), 'utf8').split('\n').filter((line) => line !== '')))
    const second = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
    const claimed = await second.claimOrphans()
    await claimed.done()
    await second.close()
    return JSON.stringify(claimed.entries)
  }
  const fromSlow = await throughSpool(records.map(decisionEntry))
  t.equal(await throughSpool(records.map(entryFor)), fromSlow, 'byte for byte')
  t.same((JSON.parse(fromSlow) as LogEntry[]).map((e) => e.id), records.map((r) => r.result.decisionId), 'all of them')
  const tags = (n: number): string[] => (lines[n] as string[]).map((line) => line.slice(0, 1))
  t.same(tags(0), ['i', 'e', 'i', 'e', ...Array(records.length - 2).fill('e')], 'the slow way: whole entries')
  t.same(tags(1), ['i', 't', 's', 'i', 't', 's', ...Array(records.length - 2).fill('s')], 'memo hits: each input and template once, then short lines')
  const bytes = (n: number): number => (lines[n] as string[]).reduce((sum, line) => sum + line.length, 0)
  t.ok(bytes(1) < bytes(0) / 2, `short lines: ${bytes(1)} characters against ${bytes(0)}`)
})
