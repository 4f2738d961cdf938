import type { Registry } from 'prom-client'
import type { DecisionRecord } from '../authorizer/result.js'
import type { Store } from '../store/store.js'
import { DEFAULT_AUDIT_CONFIG, type AuditConfig } from './config.js'
import { DecisionLog } from './decision-log.js'
import type { LogEntry } from './entry.js'
import { createAuditMetrics, type AuditMetrics } from './metrics.js'
import { SecurityMonitor } from './security.js'
import { Spool } from './spool.js'
import { openSinks, type Sink } from './sinks.js'
import { entryFor } from './row.js'
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
  /** Entries a previous process left in the spool, now in the store. */
  onReplay?: (replayed: number) => void
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
  readonly #spool: Spool | null
  #replaying: Promise<void> | null = null
  #closing = false
  #cleanupTimer: NodeJS.Timeout | null = null
  #cleaning: Promise<number> | null = null

  private constructor (options: AuditOptions, config: AuditConfig, store: AuditStore, log: DecisionLog | null, metrics: AuditMetrics, spool: Spool | null) {
    this.config = config
    this.#spool = spool
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
    const sinks = await openSinks(config.sinks, { store, stdout: options.stdout ?? process.stdout, http: config.http })
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
    const inStore = config.sinks.some((sink) => sink.type === 'postgres')
    // The sinks that outlive the process: what they have not received yet is worth a spool.
    const durable = config.sinks.some((sink) => sink.type === 'postgres' || sink.type === 'http')
    const spool = log !== null && durable && config.spoolDirectory !== null
      ? await Spool.open({ directory: config.spoolDirectory, syncIntervalMs: config.spoolSyncIntervalMs, written: () => log.written, onError: options.onError ?? (() => {}) })
      : null
    const audit = new Audit(options, config, store, log, metrics, spool)
    if (inStore) await store.prepareDaysAround(audit.#clock())
    if (spool !== null) audit.#replaying = audit.#replay(spool, sinks, options.onReplay ?? (() => {}))
    if (options.cleanupIntervalMs !== 0 && (inStore || config.retentionDays > 0)) audit.#scheduleMaintenance(options.cleanupIntervalMs ?? 3_600_000, inStore)
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
      const entry = entryFor(record)
      // Allowed reads may be sampled or dropped under pressure; nothing else may.
      const droppable = record.result.allow && !impersonating && record.result.action?.class === 'read'
      const waited = this.#append(log, entry, !droppable)
      if (events.length === 0) return waited
      const waits = [waited, ...events.map((event) => this.#append(log, event, true))].filter((w) => w !== undefined)
      if (waits.length > 0) return Promise.all(waits).then(() => {})
    } catch (error) {
      this.#onError(error, 'recording a decision')
    }
  }

  /** Into the log and, when it must be kept, the spool: what to wait for before the answer, if anything. */
  #append (log: DecisionLog, entry: LogEntry, keep: boolean): Promise<void> | undefined {
    const waited = log.append(entry, keep) ?? undefined
    const spool = this.#spool
    if (!keep || spool === null) return waited
    // On disk before the answer; a spool that fails leaves the entry to the buffer alone (logged).
    const spooled = waited === undefined ? spool.append(entry, log.accepted) : waited.then(async () => { await spool.append(entry, log.accepted) })
    return spooled.catch(this.#spoolFailed)
  }

  readonly #spoolFailed = (error: unknown): void => { this.#onError(error, 'writing the spool') }

  /** Writes the decision log and key usage now (tests; a clean shutdown does it in close()). */
  async flush (): Promise<void> {
    await this.log?.flush()
    await this.usage.flush()
  }

  /** Drops the days of the decision log past the retention period, and deletes daily usage past it in bounded batches. */
  async cleanup (options: { batchSize?: number } = {}): Promise<number> {
    if (this.config.retentionDays <= 0) return 0
    if (this.#cleaning !== null) return await this.#cleaning
    const before = new Date(this.#clock() - this.config.retentionDays * 86_400_000)
    this.#cleaning = this.store.deleteOlderThan(before, { batchSize: options.batchSize ?? 1_000 })
      .finally(() => { this.#cleaning = null })
    return await this.#cleaning
  }

  async close (): Promise<void> {
    this.#closing = true
    if (this.#cleanupTimer !== null) clearTimeout(this.#cleanupTimer)
    this.#cleanupTimer = null
    await this.#cleaning?.catch(() => 0)
    await this.usage.close().catch((error: unknown) => { this.#onError(error, 'writing key usage') })
    await this.log?.close()
    await this.#replaying
    await this.#spool?.close().catch((error: unknown) => { this.#onError(error, 'closing the spool') })
  }

  /**
   * Writes what processes that died left in the spool to every sink, retrying
   * until it is written or the audit closes. A sink is never sent a part it
   * has taken (the store also skips entries it already has; a collector may
   * get again what the dead process had already posted).
   */
  async #replay (spool: Spool, sinks: readonly Sink[], onReplay: (replayed: number) => void): Promise<void> {
    let delay = 100
    try {
      const { entries, done } = await spool.claimOrphans()
      if (entries.length === 0) return await done()
      const parts: Array<{ entries: LogEntry[]; pending: Set<Sink> }> = []
      for (let start = 0; start < entries.length; start += 5_000) parts.push({ entries: entries.slice(start, start + 5_000), pending: new Set(sinks) })
      for (;;) {
        try {
          for (const part of parts) {
            for (const sink of [...part.pending]) {
              await sink.write(part.entries)
              part.pending.delete(sink)
            }
          }
          await done()
          onReplay(entries.length)
          return
        } catch (error) {
          this.#onError(error, `replaying ${entries.length} spooled entries (kept for the next start if this process stops first)`)
          if (this.#closing) return
          await new Promise((resolve) => setTimeout(resolve, delay))
          delay = Math.min(30_000, delay * 2)
        }
      }
    } catch (error) {
      this.#onError(error, 'reading the spool')
    }
  }

  /** Hourly by default: tomorrow's partitions (when the log is in the store), then retention. */
  #scheduleMaintenance (intervalMs: number, inStore: boolean): void {
    const run = (delay: number): void => {
      this.#cleanupTimer = setTimeout(() => {
        Promise.resolve(inStore ? this.store.prepareDaysAround(this.#clock()) : undefined)
          .catch((error: unknown) => { this.#onError(error, 'creating the decision log\'s next partitions') })
          .then(async () => { this.#onCleanup(await this.cleanup()) })
          .catch((error: unknown) => { this.#onError(error, 'deleting old decision-log rows') })
          .finally(() => { if (this.#cleanupTimer !== null) run(intervalMs) })
      }, delay)
      this.#cleanupTimer.unref()
    }
    run(Math.min(60_000, intervalMs))
  }
}
