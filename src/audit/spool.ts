import { randomBytes } from 'node:crypto'
import { writeSync } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { LogEntry } from './entry.js'
import { entryOf, rowOf } from './row.js'

/** A segment is closed and a new one begun past this size; a closed one is deleted once all it holds is written. */
const SEGMENT_BYTES = 8 * 2 ** 20
const NAME = /^(\d+)-([0-9a-f]{16})-(\d+)\.spool$/
/** The ids of the spools open in this process. */
const OPEN = new Set<string>()

export interface SpoolOptions {
  /** This instance's spool folder (created with mode 0700 if missing). */
  directory: string
  /** How many entries the decision log has written to every sink so far (FIFO: all up to that count). */
  written: () => number
  /**
   * 0: every group is on the disk itself (fdatasync) before its answers go;
   * otherwise groups are written to the operating system before their answers
   * (which a crash of the process cannot lose) and synced every this many ms.
   */
  syncIntervalMs: number
  onError: (error: unknown, context: string) => void
}

interface Segment {
  path: string
  file: FileHandle
  bytes: number
  /** The decision log's accepted count after the last entry appended here. */
  last: number
  /** Bytes written since its last fdatasync. */
  unsynced: number
  /** A write failed part way: its last line may be cut. */
  torn: boolean
  /** The inputs (`i HASH`) and templates (`t HASH`) written in this segment: each once per segment, before the first entry that has it. */
  parts: Set<string>
}

/** A group: the entries of one write, and the one promise their answers wait on. */
interface Pending {
  entries: LogEntry[]
  last: number
  written: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

/**
 * An append-only file of the decision-log entries that must never be lost
 * (denials, impersonations, writes, security events), with group commit:
 * entries appended while a write is under way go together in the next one,
 * one write each, and `append()` resolves once its entry is written, so that
 * an answer waits for its entry. Entries are written as the store's rows
 * are, each input and template once per segment (lines `i HASH INPUT` and
 * `t HASH TEMPLATE`), then `e HASH ENTRY` (`e - ENTRY` without an input)
 * or, for a short row, `s HASH TEMPLATE-HASH FIELDS` with only the fields
 * that vary: the row is made once for both, and what repeats costs its hash
 * only. A written entry is in the kernel's page
 * cache, which outlives the process: a process killed before its log reached
 * the store leaves its segments behind, and the next instance to open the
 * folder replays them into the store (`claimOrphans`). Only a crash of the
 * machine can lose what was written and not yet synced: with
 * `syncIntervalMs` 0 each group is synced before its answers, otherwise every
 * `syncIntervalMs` in the background.
 */
export class Spool {
  readonly #directory: string
  readonly #written: () => number
  readonly #onError: (error: unknown, context: string) => void
  readonly #id = `${process.pid}-${randomBytes(8).toString('hex')}`
  readonly #closed: Segment[] = []
  #current: Segment | null = null
  #sequence = 0
  #pending: Pending | null = null
  #flushing: Promise<void> | null = null
  #closing = false
  readonly #syncEachGroup: boolean
  readonly #syncTimer: NodeJS.Timeout | null
  #syncing: Promise<void> | null = null

  private constructor (options: SpoolOptions) {
    this.#directory = options.directory
    this.#written = options.written
    this.#onError = options.onError
    this.#syncEachGroup = options.syncIntervalMs === 0
    this.#syncTimer = this.#syncEachGroup ? null : setInterval(() => { this.#syncInBackground() }, options.syncIntervalMs)
    this.#syncTimer?.unref()
  }

  static async open (options: SpoolOptions): Promise<Spool> {
    await mkdir(options.directory, { recursive: true, mode: 0o700 })
    const spool = new Spool(options)
    spool.#current = await spool.#newSegment()
    OPEN.add(spool.#id)
    return spool
  }

  /**
   * The segments of processes that are gone, renamed as this one's (a rename
   * is atomic: two instances starting at once never both take a file), read
   * back. `done()` deletes them once their entries are in the store. A torn
   * last line (a write cut by the crash, never acknowledged) is skipped.
   */
  async claimOrphans (): Promise<{ entries: LogEntry[]; done: () => Promise<void> }> {
    const claimed: string[] = []
    for (const name of (await readdir(this.#directory)).sort()) {
      const match = NAME.exec(name)
      if (match === null || OPEN.has(`${match[1]}-${match[2]}`) || alive(Number(match[1]))) continue
      const path = join(this.#directory, `${this.#id}-${String(this.#sequence++).padStart(6, '0')}.spool`)
      try {
        await rename(join(this.#directory, name), path)
        claimed.push(path)
      } catch (error) {
        // Another instance claimed it first.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
    }
    const entries: LogEntry[] = []
    for (const path of claimed) entries.push(...parseSegment(await readFile(path, 'utf8')))
    return {
      entries,
      done: async () => { for (const path of claimed) await unlink(path).catch(() => {}) }
    }
  }

  /** Appends the entry; resolves once it is on disk. `accepted`: the decision log's accepted count with it. */
  append (entry: LogEntry, accepted: number): Promise<void> {
    const pending = this.#pending ??= newGroup()
    pending.entries.push(entry)
    pending.last = Math.max(pending.last, accepted)
    this.#flushing ??= this.#flush()
    return pending.written
  }

  /** Deletes the closed segments whose entries have all been written. */
  async release (): Promise<void> {
    const written = this.#written()
    while (this.#closed.length > 0 && (this.#closed[0] as Segment).last <= written) {
      const segment = this.#closed.shift() as Segment
      await unlink(segment.path).catch((error: unknown) => { this.#onError(error, 'deleting a spool segment') })
    }
  }

  /** After the decision log has closed: deletes every segment whose entries were all written, keeps the others for the next start. */
  async close (): Promise<void> {
    this.#closing = true
    if (this.#syncTimer !== null) clearInterval(this.#syncTimer)
    await this.#flushing
    await this.#syncing
    OPEN.delete(this.#id)
    const current = this.#current
    this.#current = null
    if (current !== null) {
      await this.#sync(current)
      await current.file.close()
      this.#closed.push(current)
    }
    await this.release()
  }

  /** Writes groups until none is waiting; #flushing is cleared in the same turn as the last look (a later append starts a new one). */
  async #flush (): Promise<void> {
    // The entries of every request read in this turn of the event loop go in one group.
    await new Promise((resolve) => setImmediate(resolve))
    for (;;) {
      const batch = this.#pending
      this.#pending = null
      if (batch === null) {
        this.#flushing = null
        return
      }
      try {
        const segment = this.#current
        if (segment === null) throw new Error('the spool is closed')
        const bytes = writeAll(segment, linesOf(batch.entries, segment.parts))
        segment.bytes += bytes
        segment.unsynced += bytes
        if (this.#syncEachGroup) await this.#sync(segment)
        segment.last = Math.max(segment.last, batch.last)
        batch.resolve()
        if (segment.bytes >= SEGMENT_BYTES && !this.#closing) {
          this.#current = await this.#newSegment()
          await this.#syncing
          await this.#sync(segment)
          await segment.file.close()
          this.#closed.push(segment)
        }
        await this.release()
      } catch (error) {
        batch.reject(error)
      }
    }
  }

  /** Syncs the current segment, beside the writes (which do not wait for it). */
  #syncInBackground (): void {
    const segment = this.#current
    if (this.#syncing !== null || segment === null || segment.unsynced === 0) return
    this.#syncing = this.#sync(segment)
      .catch((error: unknown) => { this.#onError(error, 'syncing the spool') })
      .finally(() => { this.#syncing = null })
  }

  /** Only one sync of a segment at a time: a second would count its bytes twice. */
  async #sync (segment: Segment): Promise<void> {
    if (segment.unsynced === 0) return
    const bytes = segment.unsynced
    await segment.file.datasync()
    segment.unsynced -= bytes
  }

  async #newSegment (): Promise<Segment> {
    const path = join(this.#directory, `${this.#id}-${String(this.#sequence++).padStart(6, '0')}.spool`)
    return { path, file: await open(path, 'a', 0o600), bytes: 0, last: 0, unsynced: 0, torn: false, parts: new Set() }
  }
}

/**
 * Writes in this thread: into the page cache, a few µs for a group, where a
 * write on libuv's pool costs a round trip of tens. A write cut short (a full
 * disk) leaves a torn line: the next write begins on a line of its own.
 */
function writeAll (segment: Segment, text: string): number {
  const buffer = Buffer.from(segment.torn ? `\n${text}` : text)
  segment.torn = true
  let offset = 0
  while (offset < buffer.length) offset += writeSync(segment.file.fd, buffer, offset)
  segment.torn = false
  return buffer.length
}

/** The lines of a group; `parts`: the inputs and templates already in the segment (updated). */
function linesOf (entries: readonly LogEntry[], parts: Set<string>): string {
  let text = ''
  for (const entry of entries) {
    const row = rowOf(entry)
    if (row.input !== null && !parts.has(`i ${row.input.hash}`)) {
      text += `i ${row.input.hash} ${row.input.text}\n`
      parts.add(`i ${row.input.hash}`)
    }
    const inputHash = row.input?.hash ?? '-'
    if (row.template === null || row.varying === undefined) {
      text += `e ${inputHash} ${row.text}\n`
      continue
    }
    if (!parts.has(`t ${row.template.hash}`)) {
      text += `t ${row.template.hash} ${row.template.text}\n`
      parts.add(`t ${row.template.hash}`)
    }
    text += `s ${inputHash} ${row.template.hash} ${row.varying}\n`
  }
  return text
}

/** The entries of a segment's text; a line torn by a crash (never acknowledged) is skipped. */
function parseSegment (text: string): LogEntry[] {
  const inputs = new Map<string, string>()
  const templates = new Map<string, string>()
  const entries: LogEntry[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('{')) {
      // A whole entry per line: a spool left by a version before the row format.
      try {
        entries.push(JSON.parse(line) as LogEntry)
      } catch {}
      continue
    }
    const tag = line.slice(0, 2)
    const first = line.indexOf(' ', 2)
    const second = tag === 's ' ? line.indexOf(' ', first + 1) : first
    if (first < 0 || second < 0) continue
    const hash = line.slice(2, first)
    const json = line.slice(second + 1)
    try {
      if (tag === 'i ' || tag === 't ') {
        JSON.parse(json)
        ;(tag === 'i ' ? inputs : templates).set(hash, json)
        continue
      }
      const input = hash === '-' ? null : inputs.get(hash) ?? null
      if (tag === 'e ') {
        entries.push(entryOf(json, input))
        continue
      }
      if (tag !== 's ') continue
      const template = templates.get(line.slice(first + 1, second))
      if (template !== undefined) entries.push(entryOf(json, input, { text: template }))
    } catch {}
  }
  return entries
}

function newGroup (): Pending {
  const { promise: written, resolve, reject } = withResolvers<void>()
  // Nobody may be waiting when a write fails: a rejection no one awaits must not end the process.
  written.catch(() => {})
  return { entries: [], last: 0, written, resolve, reject }
}

/**
 * Whether a process with this pid is running and is not this one: a pid
 * reused by this very process (pid 1 in a container, restarted) is a
 * previous instance's, so gone (this process's own spools are in OPEN).
 */
function alive (pid: number): boolean {
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Promise.withResolvers, which Node 20 lacks. */
function withResolvers<T> (): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}
