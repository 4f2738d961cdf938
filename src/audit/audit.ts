import type { Registry } from 'prom-client'
import type { DecisionRecord } from '../authorizer/result.js'
import type { Store } from '../store/store.js'
import { DEFAULT_AUDIT_CONFIG, type AuditConfig } from './config.js'
import { DecisionLog } from './decision-log.js'
import { decisionEntry } from './entry.js'
import { createAuditMetrics, type AuditMetrics } from './metrics.js'
import { SecurityMonitor } from './security.js'
import { openSinks } from './sinks.js'
import { AuditStore } from './store.js'
import { KeyUsageRecorder } from './usage.js'

export interface AuditOptions {
  store: Store
  /** Default DEFAULT_AUDIT_CONFIG (decision log in PostgreSQL, 30 days). */
  config?: Partial<AuditConfig>
  /** Prometheus registry to register the audit metrics on (the server's). */
  registry?: Registry
  /** For the `stdout` sink; default process.stdout. */
  stdout?: { write(chunk: string): unknown }
  /** Write failures and retention runs; must not throw. */
  onError?: (error: unknown, context: string) => void
  onCleanup?: (deleted: number) => void
  /** How often the retention job runs, ms (default one hour; the first run is a minute after start). */
  cleanupIntervalMs?: number
  clock?: () => number
}

/**
 * The audit stage: pass `record` as the authorizer's `onDecision`. Every
 * decision becomes a decision-log entry (masked), raises the security events
 * it should, and counts toward its key's usage; a retention job deletes old
 * rows. `close()` writes what is buffered.
 */
export class Audit {
  readonly store: AuditStore
  readonly metrics: AuditMetrics
  readonly security: SecurityMonitor
  readonly usage: KeyUsageRecorder
  /** Null when the decision log is off (KEYGATE_DECISION_LOG=off). */
  readonly log: DecisionLog | null
  readonly config: AuditConfig
  readonly #clock: () => number
  readonly #onError: (error: unknown, context: string) => void
  readonly #onCleanup: (deleted: number) => void
  #cleanupTimer: NodeJS.Timeout | null = null
  #cleaning: Promise<number> | null = null

  private constructor (options: AuditOptions, config: AuditConfig, store: AuditStore, log: DecisionLog | null, metrics: AuditMetrics) {
    this.config = config
    this.store = store
    this.metrics = metrics
    this.log = log
    this.#clock = options.clock ?? Date.now
    this.#onError = options.onError ?? (() => {})
    this.#onCleanup = options.onCleanup ?? (() => {})
    this.security = new SecurityMonitor(config.security)
    this.usage = new KeyUsageRecorder({
      store: options.store, audit: store, flushIntervalMs: config.usageFlushIntervalMs, metrics, onError: this.#onError
    })
    this.record = this.record.bind(this)
  }

  static async open (options: AuditOptions): Promise<Audit> {
    const config: AuditConfig = { ...DEFAULT_AUDIT_CONFIG, ...options.config, security: { ...DEFAULT_AUDIT_CONFIG.security, ...options.config?.security } }
    const store = new AuditStore(options.store.database)
    const metrics = createAuditMetrics(options.registry)
    const sinks = await openSinks(config.sinks, { store, stdout: options.stdout ?? process.stdout })
    const log = sinks.length === 0
      ? null
      : new DecisionLog({
        sinks,
        bufferSize: config.bufferSize,
        batchSize: config.batchSize,
        flushIntervalMs: config.flushIntervalMs,
        sampleEvery: config.sampleEvery,
        metrics,
        onError: options.onError
      })
    const audit = new Audit(options, config, store, log, metrics)
    if (config.retentionDays > 0 && options.cleanupIntervalMs !== 0) audit.#scheduleCleanup(options.cleanupIntervalMs ?? 3_600_000)
    return audit
  }

  /**
   * The authorizer's `onDecision`. Returns a promise only when the entry (or
   * an event) must be kept and the buffer is full: the decision waits for it.
   */
  record (record: DecisionRecord): void | Promise<void> {
    try {
      this.usage.observe(record)
      const events = this.security.observe(record, this.#clock())
      const impersonating = record.input !== null && record.input.runAs.length > 0
      if (impersonating) {
        this.metrics.impersonations.inc({ outcome: record.result.actor !== null && record.result.allow ? 'allowed' : record.result.status === 401 ? 'unauthenticated' : 'refused' })
      }
      for (const event of events) this.metrics.securityEvents.inc({ event: event.event })
      const log = this.log
      if (log === null) return
      const entry = decisionEntry(record)
      // Allowed reads may be sampled or dropped under pressure; nothing else may.
      const droppable = record.result.allow && !impersonating && record.result.action?.class === 'read'
      const waits: Array<Promise<void>> = []
      const waited = log.append(entry, !droppable)
      if (waited !== undefined) waits.push(waited)
      for (const event of events) {
        const w = log.append(event, true)
        if (w !== undefined) waits.push(w)
      }
      if (waits.length > 0) return Promise.all(waits).then(() => {})
    } catch (error) {
      this.#onError(error, 'recording a decision')
    }
  }

  /** Writes the decision log and key usage now (tests; a clean shutdown does it in close()). */
  async flush (): Promise<void> {
    await this.log?.flush()
    await this.usage.flush()
  }

  /** Deletes decision-log rows and daily usage past the retention period, in bounded batches. */
  async cleanup (options: { batchSize?: number } = {}): Promise<number> {
    if (this.config.retentionDays <= 0) return 0
    if (this.#cleaning !== null) return await this.#cleaning
    const before = new Date(this.#clock() - this.config.retentionDays * 86_400_000)
    this.#cleaning = this.store.deleteOlderThan(before, { batchSize: options.batchSize ?? 1_000, pauseMs: 50 })
      .finally(() => { this.#cleaning = null })
    return await this.#cleaning
  }

  async close (): Promise<void> {
    if (this.#cleanupTimer !== null) clearTimeout(this.#cleanupTimer)
    this.#cleanupTimer = null
    await this.#cleaning?.catch(() => 0)
    await this.usage.close().catch((error: unknown) => { this.#onError(error, 'writing key usage') })
    await this.log?.close()
  }

  #scheduleCleanup (intervalMs: number): void {
    const run = (delay: number): void => {
      this.#cleanupTimer = setTimeout(() => {
        this.cleanup()
          .then((deleted) => { this.#onCleanup(deleted) })
          .catch((error: unknown) => { this.#onError(error, 'deleting old decision-log rows') })
          .finally(() => { if (this.#cleanupTimer !== null) run(intervalMs) })
      }, delay)
      this.#cleanupTimer.unref()
    }
    run(Math.min(60_000, intervalMs))
  }
}
