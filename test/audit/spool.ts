/** The spool alone: what a closed spool leaves behind, what the next one claims, a torn last line. */
import { appendFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import type { LogEntry } from '../../src/audit/entry.js'
import { Spool } from '../../src/audit/spool.js'
import { tempDir } from '../helpers/temp.js'

const entry = (id: string): LogEntry => ({ kind: 'security', id, decision_id: id } as unknown as LogEntry)

t.test('entries not yet written outlive the spool and are claimed once by the next; written ones go', async (t) => {
  const directory = tempDir(t, 'spool')
  const errors: unknown[] = []
  const onError = (error: unknown): void => { errors.push(error) }

  let written = 0
  const first = await Spool.open({ directory, written: () => written, onError })
  await Promise.all([first.append(entry('a'), 1), first.append(entry('b'), 2)])
  await first.append(entry('c'), 3)
  written = 2
  await first.close()
  const left = await readdir(directory)
  t.equal(left.length, 1, 'c was not written: its segment stays')
  // A crash cut the last write short: never acknowledged, skipped.
  await appendFile(join(directory, left[0] as string), '{"kind":"secu')

  const second = await Spool.open({ directory, written: () => 0, onError })
  const third = await Spool.open({ directory, written: () => 0, onError })
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
