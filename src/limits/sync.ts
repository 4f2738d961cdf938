import type { CounterRow, LimitCounters } from './limits.js'

/** Where the counters of every instance meet (the Store, on PostgreSQL or PGlite). */
export interface CounterStore {
  addLimitUsage(rows: readonly CounterRow[]): Promise<number[]>
  currentLimitUsage(now: number, max: number): Promise<CounterRow[]>
  deleteLimitUsage(before: number): Promise<void>
}

export interface LimitSyncOptions {
  /** Time between two syncs, ms (DEFAULT_LIMIT_SYNC_MS). */
  intervalMs: number
  clock: () => number
  /** A sync that failed, once until one succeeds again (the deltas are kept and sent with the next). */
  onError: (error: Error) => void
  /** Counters kept at most (what the start loads, at most). */
  max: number
}

export const DEFAULT_LIMIT_SYNC_MS = 50
/** Ended windows are deleted at most this often, by each instance. */
const CLEANUP_EVERY_MS = 60_000

/**
 * Shares `counters` with the other instances on the store, in the
 * background: every `intervalMs`, the counters read since the last sync are
 * added to the store's (one statement) and their totals become this
 * instance's view. Nothing on the request path waits for it. The first sync
 * also loads the counts of windows still running, so that a restart (or an
 * instance joining) starts from them; `close()` sends what is left.
 */
export class LimitSync {
  readonly #counters: LimitCounters
  readonly #store: CounterStore
  readonly #options: LimitSyncOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | null = null
  #loaded = false
  #loading: Promise<void> | null = null
  #failing = false
  #cleanedAt = 0
  #closed = false

  constructor (counters: LimitCounters, store: CounterStore, options: LimitSyncOptions) {
    this.#counters = counters
    this.#store = store
    this.#options = options
  }

  /**
   * Loads the running windows' counts, waiting for them at most `waitMs` (a
   * store that is down or slow does not hold up the start: the load goes on,
   * and a failed one is reported and retried with the next sync that has
   * work), then syncs on schedule.
   */
  async start (waitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#load(), new Promise((resolve) => { timer = setTimeout(resolve, waitMs).unref() })])
    clearTimeout(timer)
    this.#schedule()
  }

  /** One sync now (after the one under way, if any). */
  async sync (): Promise<void> {
    while (this.#running !== null) await this.#running
    this.#running = this.#syncOnce().finally(() => { this.#running = null })
    await this.#running
  }

  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    await this.sync()
  }

  #schedule (): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => { void this.sync().then(() => { this.#schedule() }) }, this.#options.intervalMs).unref()
  }

  /** One load at a time; counts that arrive late are still taken (they only ever raise a view). */
  async #load (): Promise<void> {
    this.#loading ??= (async () => {
      try {
        const now = this.#options.clock()
        this.#counters.load(await this.#store.currentLimitUsage(now, this.#options.max), this.#options.clock())
        this.#loaded = true
      } catch (error) {
        this.#failed(error)
      } finally {
        this.#loading = null
      }
    })()
    await this.#loading
  }

  async #syncOnce (): Promise<void> {
    const now = this.#options.clock()
    // A window ended with nothing new for it: nothing to learn.
    const sent = this.#counters.unsent().filter(({ counter, delta }) => delta > 0 || counter.windowEnd > now)
    if (sent.length === 0) return
    if (!this.#loaded) await this.#load()
    try {
      const totals = await this.#store.addLimitUsage(sent.map(({ counter, delta }) => ({ counter: counter.key, windowEnd: counter.windowEnd, used: delta })))
      this.#counters.settle(sent, totals)
      this.#failing = false
    } catch (error) {
      this.#counters.unsend(sent)
      this.#failed(error)
      return
    }
    if (now - this.#cleanedAt >= CLEANUP_EVERY_MS) {
      this.#cleanedAt = now
      await this.#store.deleteLimitUsage(now).catch((error: unknown) => { this.#failed(error) })
    }
  }

  #failed (error: unknown): void {
    if (this.#failing) return
    this.#failing = true
    try {
      this.#options.onError(error instanceof Error ? error : new Error(String(error)))
    } catch {
      // An observer must not stop the syncs.
    }
  }
}
