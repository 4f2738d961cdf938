import { open, type FileHandle } from 'node:fs/promises'
import type { HttpSinkConfig, SinkSpec } from './config.js'
import type { LogEntry } from './entry.js'
import { HttpSink } from './http-sink.js'
import type { AuditStore } from './store.js'

/**
 * Where a batch of decision-log entries is written. A failed write is retried
 * with the same batch (the same array); an error with a numeric `retryAfterMs`
 * delays the retry by that much (up to the backoff's ceiling).
 */
export interface Sink {
  readonly name: string
  write(entries: readonly LogEntry[]): Promise<void>
  close(): Promise<void>
}

/** Rows of keygate_decision_log, a batch in one COPY; a retried batch does not duplicate rows. */
export class PostgresSink implements Sink {
  readonly name = 'postgres'
  readonly #store: AuditStore

  constructor (store: AuditStore) {
    this.#store = store
  }

  async write (entries: readonly LogEntry[]): Promise<void> {
    await this.#store.insert(entries)
  }

  async close (): Promise<void> {}
}

/** One JSON object per line, on a stream (stdout) or appended to a file. */
export class JsonLinesSink implements Sink {
  readonly name: string
  readonly #out: { write(chunk: string): unknown } | null
  readonly #path: string | null
  #file: FileHandle | null = null

  private constructor (name: string, out: { write(chunk: string): unknown } | null, path: string | null) {
    this.name = name
    this.#out = out
    this.#path = path
  }

  static stream (out: { write(chunk: string): unknown }): JsonLinesSink {
    return new JsonLinesSink('stdout', out, null)
  }

  static file (path: string): JsonLinesSink {
    return new JsonLinesSink('file', null, path)
  }

  /** Opens the file (created with mode 0600 if missing); call once before the first write. */
  async open (): Promise<void> {
    if (this.#path !== null && this.#file === null) this.#file = await open(this.#path, 'a', 0o600)
  }

  async write (entries: readonly LogEntry[]): Promise<void> {
    let text = ''
    for (const entry of entries) text += JSON.stringify(entry) + '\n'
    if (this.#out !== null) {
      this.#out.write(text)
      return
    }
    await this.open()
    await (this.#file as FileHandle).appendFile(text, 'utf8')
  }

  async close (): Promise<void> {
    const file = this.#file
    this.#file = null
    await file?.close()
  }
}

export async function openSinks (specs: readonly SinkSpec[], context: { store: AuditStore; stdout: { write(chunk: string): unknown }; http: HttpSinkConfig }): Promise<Sink[]> {
  const sinks: Sink[] = []
  try {
    for (const spec of specs) {
      if (spec.type === 'postgres') sinks.push(new PostgresSink(context.store))
      else if (spec.type === 'stdout') sinks.push(JsonLinesSink.stream(context.stdout))
      else if (spec.type === 'http') {
        const sink = new HttpSink({ ...context.http, url: spec.url })
        await sink.open()
        sinks.push(sink)
      } else {
        const sink = JsonLinesSink.file(spec.path)
        await sink.open()
        sinks.push(sink)
      }
    }
  } catch (error) {
    await Promise.allSettled(sinks.map(async (sink) => { await sink.close() }))
    throw error
  }
  return sinks
}
