import type { LogEntry } from './entry.js'
import type { AuditMetrics } from './metrics.js'
import type { Sink } from './sinks.js'

export interface DecisionLogOptions {
  sinks: Sink[]
  /** Entries in memory at most, those being written included. */
  bufferSize: number
  /** Entries per write. */
  batchSize: number
  /** A partial batch is written after this long. */
  flushIntervalMs: number
  /** Once the buffer is half full, one droppable entry in this many is kept. */
  sampleEvery: number
  metrics: AuditMetrics
  /** How long close() keeps retrying a failing sink before giving up. Default 5 s. */
  closeTimeoutMs?: number
  onError?: (error: unknown, context: string) => void
}

export interface DecisionLogStats {
  /** Accepted into the buffer. */
  logged: number
  /** Droppable entries left out by sampling under pressure. */
  sampled: number
  /** Droppable entries left out because the buffer was full. */
  dropped: number
  /** Written to every sink. */
  written: number
  /** Accepted but never written: the sinks still failed when the log was closed. */
  lost: number
}

interface Waiter {
  entry: LogEntry
  resolve: () => void
}

const MAX_RETRY_DELAY_MS = 30_000

/**
 * A bounded buffer of decision-log entries in front of the sinks, written in
 * batches: when `batchSize` entries are waiting, every `flushIntervalMs`, and
 * on close. Under pressure, droppable entries (allowed reads) are sampled once
 * the buffer is half full and dropped once it is three quarters full, which
 * keeps the last quarter for entries that must not be lost; those (denials,
 * impersonations, security events) never are: when there is no room,
 * `append()` returns a promise that resolves once there is (backpressure).
 * A failed write keeps its batch and is retried, with backoff, and the
 * entries behind it wait.
 */
export class DecisionLog {
  readonly #sinks: Sink[]
  readonly #capacity: number
  readonly #sampleAt: number
  readonly #dropAt: number
  readonly #batchSize: number
  readonly #sampleEvery: number
  readonly #metrics: AuditMetrics
  readonly #closeTimeoutMs: number
  readonly #onError: (error: unknown, context: string) => void
  readonly #timer: NodeJS.Timeout
  readonly #stats: DecisionLogStats = { logged: 0, sampled: 0, dropped: 0, written: 0, lost: 0 }
  #queue: LogEntry[] = []
  #inflight: { entries: LogEntry[]; pending: Set<Sink> } | null = null
  #waiters: Waiter[] = []
  #sampleCount = 0
  #draining: Promise<void> | null = null
  #retryAt = 0
  #retryDelayMs = 0
  #closed = false

  constructor (options: DecisionLogOptions) {
    if (options.sinks.length === 0) throw new TypeError('DecisionLog: at least one sink')
    if (!Number.isInteger(options.bufferSize) || options.bufferSize < 4) throw new TypeError('DecisionLog: bufferSize must be an integer ≥ 4')
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > options.bufferSize) {
      throw new TypeError('DecisionLog: batchSize must be an integer from 1 to bufferSize')
    }
    this.#sinks = options.sinks
    this.#capacity = options.bufferSize
    this.#sampleAt = Math.floor(options.bufferSize / 2)
    this.#dropAt = Math.floor(options.bufferSize * 3 / 4)
    this.#batchSize = options.batchSize
    this.#sampleEvery = options.sampleEvery
    this.#metrics = options.metrics
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 5_000
    this.#onError = options.onError ?? (() => {})
    this.#timer = setInterval(() => { this.#kick() }, options.flushIntervalMs)
    this.#timer.unref()
  }

  /** Entries in memory: waiting in the buffer or being written. */
  get depth (): number {
    return this.#queue.length + (this.#inflight?.entries.length ?? 0)
  }

  /** Entries accepted so far; with `written`, the position of an entry in the log's FIFO order. */
  get accepted (): number {
    return this.#stats.logged
  }

  /** Entries written to every sink so far: in FIFO order, so every one of the first `written` accepted. */
  get written (): number {
    return this.#stats.written
  }

  /** Decisions waiting for room in the buffer (backpressure). */
  get waiting (): number {
    return this.#waiters.length
  }

  get stats (): Readonly<DecisionLogStats> {
    return { ...this.#stats }
  }

  /**
   * Accepts an entry. A droppable one may be sampled or dropped under
   * pressure (counted); one that must be kept is accepted now, or the
   * returned promise resolves once it has been.
   */
  append (entry: LogEntry, keep: boolean): void | Promise<void> {
    if (this.#closed) {
      this.#stats.lost++
      this.#onError(new Error('decision log is closed'), 'append')
      return
    }
    const depth = this.depth
    if (!keep) {
      if (depth >= this.#dropAt) {
        this.#stats.dropped++
        this.#metrics.dropped.inc()
        return
      }
      if (depth >= this.#sampleAt && this.#sampleCount++ % this.#sampleEvery !== 0) {
        this.#stats.sampled++
        this.#metrics.sampled.inc()
        return
      }
      this.#accept(entry)
      return
    }
    if (depth < this.#capacity && this.#waiters.length === 0) {
      this.#accept(entry)
      return
    }
    return new Promise<void>((resolve) => {
      this.#waiters.push({ entry, resolve })
      this.#metrics.waiting.set(this.#waiters.length)
      this.#kick(true)
    })
  }

  /** Writes everything accepted so far (retrying failed sinks until `timeoutMs`, default forever). */
  async flush (timeoutMs = Infinity): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      this.#retryAt = 0
      this.#kick(true)
      await this.#draining
      if (this.depth === 0 && this.#waiters.length === 0) return
      if (Date.now() >= deadline) return
      await sleep(Math.min(Math.max(this.#retryAt - Date.now(), 10), Math.max(1, deadline - Date.now())))
    }
  }

  /** Writes what is buffered (giving up on a failing sink after closeTimeoutMs), then closes the sinks. */
  async close (): Promise<void> {
    if (this.#closed) return
    clearInterval(this.#timer)
    await this.flush(this.#closeTimeoutMs)
    this.#closed = true
    await this.#draining
    const lost = this.depth + this.#waiters.length
    if (lost > 0) {
      this.#stats.lost += lost
      this.#onError(new Error(`${lost} decision-log entries could not be written before shutdown`), 'close')
      this.#queue = []
      this.#inflight = null
      for (const waiter of this.#waiters.splice(0)) waiter.resolve()
      this.#updateGauges()
    }
    for (const sink of this.#sinks) {
      try {
        await sink.close()
      } catch (error) {
        this.#onError(error, `closing the ${sink.name} sink`)
      }
    }
  }

  #accept (entry: LogEntry): void {
    this.#queue.push(entry)
    this.#stats.logged++
    this.#metrics.logged.inc()
    this.#metrics.bufferDepth.set(this.depth)
    if (this.#queue.length >= this.#batchSize) this.#kick()
  }

  /** Starts writing unless a write is under way; `force` writes a partial batch too. */
  #kick (force = true): void {
    if (this.#draining !== null || Date.now() < this.#retryAt) return
    if (this.#inflight === null && this.#queue.length === 0 && this.#waiters.length === 0) return
    if (!force && this.#queue.length < this.#batchSize) return
    this.#draining = this.#drain().finally(() => { this.#draining = null })
  }

  async #drain (): Promise<void> {
    for (;;) {
      this.#admitWaiters()
      if (this.#inflight === null) {
        if (this.#queue.length === 0) return
        this.#inflight = { entries: this.#queue.splice(0, this.#batchSize), pending: new Set(this.#sinks) }
      }
      const batch = this.#inflight
      let askedDelayMs = 0
      for (const sink of [...batch.pending]) {
        try {
          await sink.write(batch.entries)
          batch.pending.delete(sink)
        } catch (error) {
          this.#metrics.writeErrors.inc({ sink: sink.name })
          this.#onError(error, `writing ${batch.entries.length} entries to the ${sink.name} sink`)
          askedDelayMs = Math.max(askedDelayMs, retryAfterOf(error))
        }
      }
      if (batch.pending.size > 0) {
        // Keep the batch; the timer retries it after the backoff, or after the sink's Retry-After if longer (up to the backoff's ceiling).
        this.#retryDelayMs = Math.min(MAX_RETRY_DELAY_MS, Math.max(100, this.#retryDelayMs * 2))
        this.#retryAt = Date.now() + Math.min(MAX_RETRY_DELAY_MS, Math.max(this.#retryDelayMs, askedDelayMs))
        return
      }
      this.#retryDelayMs = 0
      this.#stats.written += batch.entries.length
      this.#inflight = null
      this.#updateGauges()
    }
  }

  /** Entries that had to wait are accepted, oldest first, as room frees up. */
  #admitWaiters (): void {
    while (this.#waiters.length > 0 && this.depth < this.#capacity) {
      const waiter = this.#waiters.shift() as Waiter
      this.#queue.push(waiter.entry)
      this.#stats.logged++
      this.#metrics.logged.inc()
      waiter.resolve()
    }
    this.#updateGauges()
  }

  #updateGauges (): void {
    this.#metrics.bufferDepth.set(this.depth)
    this.#metrics.waiting.set(this.#waiters.length)
  }
}

/** How long a failed sink asked to be left alone (an HTTP collector's Retry-After), ms; 0 if it did not say. */
function retryAfterOf (error: unknown): number {
  const asked = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs
  return typeof asked === 'number' && Number.isFinite(asked) ? asked : 0
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
