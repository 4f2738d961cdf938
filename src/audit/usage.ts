import type { DecisionRecord } from '../authorizer/result.js'
import type { Store } from '../store/store.js'
import type { AuditMetrics } from './metrics.js'
import type { AuditStore, DailyUsage } from './store.js'

export interface KeyUsageOptions {
  store: Store
  audit: AuditStore
  flushIntervalMs: number
  metrics: AuditMetrics
  /** Distinct (key, day) pairs held before an early write. Default 10 000. */
  maxPending?: number
  onError?: (error: unknown, context: string) => void
}

const DAY_MS = 86_400_000

/**
 * Counts, per secret key, the decisions in which it authenticated (allowed,
 * or refused with 403), and writes them in batches — never per request:
 * `lastUsedAt` and the running total on the key (`store.touchKeys`), and the
 * per-day counts in keygate_key_usage_daily. A failed write keeps the counts
 * for the next one.
 */
export class KeyUsageRecorder {
  readonly #store: Store
  readonly #audit: AuditStore
  readonly #metrics: AuditMetrics
  readonly #maxPending: number
  readonly #onError: (error: unknown, context: string) => void
  readonly #timer: NodeJS.Timeout
  #pending = new Map<string, DailyUsage>()
  #dayStart = -Infinity
  #day = ''
  #writing: Promise<void> | null = null

  constructor (options: KeyUsageOptions) {
    this.#store = options.store
    this.#audit = options.audit
    this.#metrics = options.metrics
    this.#maxPending = options.maxPending ?? 10_000
    this.#onError = options.onError ?? (() => {})
    this.#timer = setInterval(() => { void this.flush() }, options.flushIntervalMs)
    this.#timer.unref()
  }

  observe (record: DecisionRecord): void {
    const { result, input } = record
    const credential = input?.credential
    if (credential?.type !== 'secret_key' || credential.found !== true || credential.id === undefined) return
    if (result.status !== 200 && result.status !== 403) return
    const day = this.#dayOf(record.timestamp)
    const seen = this.#pending.get(`${credential.id}|${day}`)
    if (seen !== undefined) {
      seen.requests++
      if (result.status === 403) seen.denied++
      if (record.timestamp > seen.lastUsedAt) seen.lastUsedAt = record.timestamp
      return
    }
    this.#add({ keyId: credential.id, day, requests: 1, denied: result.status === 403 ? 1 : 0, lastUsedAt: record.timestamp })
    if (this.#pending.size >= this.#maxPending) void this.flush()
  }

  // The UTC day (YYYY-MM-DD) of a timestamp, formatted once per day rather than per decision.
  #dayOf (timestamp: Date): string {
    const time = timestamp.getTime()
    if (time < this.#dayStart || time >= this.#dayStart + DAY_MS) {
      this.#dayStart = time - (((time % DAY_MS) + DAY_MS) % DAY_MS)
      this.#day = timestamp.toISOString().slice(0, 10)
    }
    return this.#day
  }

  /** Writes what has been counted; one write at a time. */
  async flush (): Promise<void> {
    while (this.#writing !== null) await this.#writing
    if (this.#pending.size === 0) return
    const batch = [...this.#pending.values()]
    this.#pending = new Map()
    this.#writing = this.#write(batch).finally(() => { this.#writing = null })
    await this.#writing
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }

  async #write (batch: DailyUsage[]): Promise<void> {
    const keys = new Map<string, { id: string; lastUsedAt: Date; count: number }>()
    for (const u of batch) {
      const seen = keys.get(u.keyId)
      if (seen === undefined) keys.set(u.keyId, { id: u.keyId, lastUsedAt: u.lastUsedAt, count: u.requests })
      else {
        seen.count += u.requests
        if (u.lastUsedAt > seen.lastUsedAt) seen.lastUsedAt = u.lastUsedAt
      }
    }
    try {
      await this.#store.touchKeys([...keys.values()])
    } catch (error) {
      this.#metrics.usageErrors.inc()
      this.#onError(error, 'writing key usage')
      for (const u of batch) this.#add(u)
      return
    }
    try {
      await this.#audit.addDailyUsage(batch)
    } catch (error) {
      // The totals are written; only the daily counts are missing. Not retried, or the totals would count twice.
      this.#metrics.usageErrors.inc()
      this.#onError(error, 'writing daily key usage')
    }
  }

  #add (usage: DailyUsage): void {
    const id = `${usage.keyId}|${usage.day}`
    const seen = this.#pending.get(id)
    if (seen === undefined) {
      this.#pending.set(id, { ...usage })
      return
    }
    seen.requests += usage.requests
    seen.denied += usage.denied
    if (usage.lastUsedAt > seen.lastUsedAt) seen.lastUsedAt = usage.lastUsedAt
  }
}
