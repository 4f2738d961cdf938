/** The spool alone: what a closed spool leaves behind, what the next one claims, a torn last line, when it syncs. */
import { appendFile, open, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { LogEntry } from '../../src/audit/entry.js'
import { Spool } from '../../src/audit/spool.js'
import { tempDir } from '../helpers/temp.js'

const entry = (id: string): LogEntry => ({ kind: 'security', id, decision_id: id, timestamp: '2026-12-02T10:00:00.000Z', reason_codes: [] } as unknown as LogEntry)
const decision = (id: string, now: number, input: Record<string, unknown>): LogEntry =>
  ({ kind: 'decision', id, decision_id: id, timestamp: '2026-12-02T10:00:00.000Z', reason_codes: [], input: { ...input, now } } as unknown as LogEntry)

t.test('entries not yet written outlive the spool and are claimed once by the next; written ones go', async (t) => {
  const directory = tempDir(t, 'spool')
  const errors: unknown[] = []
  const onError = (error: unknown): void => { errors.push(error) }

  let written = 0
  const first = await Spool.open({ directory, syncIntervalMs: 0, written: () => written, onError })
  await Promise.all([first.append(entry('a'), 1), first.append(entry('b'), 2)])
  await first.append(entry('c'), 3)
  written = 2
  await first.close()
  const left = await readdir(directory)
  t.equal(left.length, 1, 'c was not written: its segment stays')
  // A crash cut the last write short: never acknowledged, skipped.
  await appendFile(join(directory, left[0] as string), 'e - {"kind":"secu')

  const second = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
  const third = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
  const claimed = await second.claimOrphans()
  t.same(claimed.entries.map((e) => e.id), ['a', 'b', 'c'], 'all of it, the torn line aside')
  t.same((await third.claimOrphans()).entries, [], 'a file is claimed by one spool only')
  await claimed.done()
  t.equal((await readdir(directory)).length, 2, 'the claimed file is gone; the two open spools have a segment each')
  await second.close()
  await third.close()
  t.same(await readdir(directory), [], 'nothing appended, nothing kept')
  t.same(errors, [])
})

/** Counts FileHandle.datasync calls (the class is not exported: its prototype is taken from an open handle). */
async function countSyncs (t: Test, directory: string): Promise<{ count: number }> {
  const handle = await open(join(directory, 'probe'), 'w')
  const prototype = Object.getPrototypeOf(handle) as { datasync: () => Promise<void> }
  await handle.close()
  const original = prototype.datasync
  const counter = { count: 0 }
  prototype.datasync = function (this: unknown) { counter.count++; return original.call(this) }
  t.teardown(() => { prototype.datasync = original })
  return counter
}

t.test('syncIntervalMs 0 syncs each group before its answers; otherwise answers wait for the write only and the sync follows in the background', async (t) => {
  const directory = tempDir(t, 'spool-sync')
  const syncs = await countSyncs(t, directory)
  const onError = (error: unknown): void => { t.fail(String(error)) }

  const eachGroup = await Spool.open({ directory: join(directory, 'each'), syncIntervalMs: 0, written: () => 3, onError })
  await eachGroup.append(entry('a'), 1)
  t.equal(syncs.count, 1, 'the first group is synced before append resolves')
  await Promise.all([eachGroup.append(entry('b'), 2), eachGroup.append(entry('c'), 3)])
  t.equal(syncs.count, 2, 'b and c went in one group: one sync')
  await eachGroup.close()

  syncs.count = 0
  const background = await Spool.open({ directory: join(directory, 'background'), syncIntervalMs: 40, written: () => 0, onError })
  await background.append(entry('d'), 1)
  await background.append(entry('e'), 2)
  t.equal(syncs.count, 0, 'appends resolve with no sync')
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(syncs.count, 1, 'the timer synced once, and not again with nothing new')
  await background.append(entry('f'), 3)
  await background.close()
  t.equal(syncs.count, 2, 'close syncs what the timer had not')
  const kept = await readdir(join(directory, 'background'))
  t.equal(kept.length, 1, 'nothing was written to the store: the segment stays for the next start')
})

t.test('a decision\'s input is written once per segment and restored on replay; a torn line is skipped', async (t) => {
  const directory = tempDir(t, 'spool-inputs')
  const onError = (error: unknown): void => { t.fail(String(error)) }
  const shared = { request: { method: 'GET', path: '/api/v1/bot/list' }, principal: { id: 'u1' } }
  const other = { request: { method: 'POST', path: '/api/v1/bot/create' }, principal: { id: 'u1' } }
  const written = [decision('d1', 1, shared), decision('d2', 2, shared), decision('d3', 3, other), entry('s1')]
  const first = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
  for (const [i, e] of written.entries()) await first.append(e, i + 1)
  await first.close()
  const [name] = await readdir(directory)
  const text = await readFile(join(directory, name as string), 'utf8')
  t.equal(text.split('\n').filter((line) => line.startsWith('i ')).length, 2, 'two distinct inputs, one line each')
  t.notOk(text.includes('"now":0') && text.split('/api/v1/bot/list').length > 2, 'the shared input is not repeated')
  await appendFile(join(directory, name as string), 'i abc {"tor\n')
  // A line of the format before rows: one whole entry.
  const legacy = entry('s2')
  await appendFile(join(directory, name as string), JSON.stringify(legacy) + '\n')

  const second = await Spool.open({ directory, syncIntervalMs: 0, written: () => 0, onError })
  const claimed = await second.claimOrphans()
  t.same(claimed.entries, [...written, legacy], 'every entry, inputs restored with their own now; the whole-entry line too')
  await claimed.done()
  await second.close()
})
