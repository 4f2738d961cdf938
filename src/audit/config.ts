/** The audit's settings (KEYGATE_DECISION_LOG* and KEYGATE_SECURITY_*, read by src/config/) and the syntax of their values. */

export type SinkSpec = { type: 'postgres' } | { type: 'stdout' } | { type: 'file'; path: string }

export interface BurstRule {
  /** Occurrences within the window that make a burst. */
  threshold: number
  windowSeconds: number
}

export interface AuditConfig {
  /** Where decision-log entries go; empty: nowhere (metrics and usage only). */
  sinks: SinkSpec[]
  /** Entries held in memory at most (KEYGATE_DECISION_LOG_BUFFER). */
  bufferSize: number
  /** Entries per write (KEYGATE_DECISION_LOG_BATCH). */
  batchSize: number
  /** Longest an entry waits to be written, ms (KEYGATE_DECISION_LOG_FLUSH_MS). */
  flushIntervalMs: number
  /** Under pressure, one allowed read in this many is kept (KEYGATE_DECISION_LOG_SAMPLE). */
  sampleEvery: number
  /**
   * Folder of the local spool of never-dropped entries, replayed into the store
   * at start after a crash; null: none (KEYGATE_DECISION_LOG_SPOOL). Used with
   * the postgres sink only.
   */
  spoolDirectory: string | null
  /**
   * How often the spool is synced to the disk, ms; 0: before each answer
   * (KEYGATE_DECISION_LOG_SPOOL_SYNC_MS). Entries reach the operating system
   * before their answer either way, so only a crash of the machine can lose
   * the unsynced ones.
   */
  spoolSyncIntervalMs: number
  /** Decision-log rows and daily usage older than this are deleted; 0 keeps them (KEYGATE_DECISION_LOG_RETENTION_DAYS). */
  retentionDays: number
  /** How often key usage is written, ms (KEYGATE_KEY_USAGE_FLUSH_MS). */
  usageFlushIntervalMs: number
  security: {
    /** 401s per key prefix or per client address (KEYGATE_SECURITY_UNAUTHENTICATED_BURST, `count/seconds`). */
    unauthenticatedBurst: BurstRule
    /** Refused impersonations per actor or per client address (KEYGATE_SECURITY_IMPERSONATION_BURST). */
    impersonationBurst: BurstRule
    /** A credential over plain HTTP is recorded once per key or client per this many seconds (KEYGATE_SECURITY_PLAIN_HTTP_SECONDS; 0: never). */
    plainHttpSeconds: number
    /** Distinct keys, clients and actors tracked at once per counter (KEYGATE_SECURITY_TRACKED). */
    tracked: number
  }
}

export const DEFAULT_AUDIT_CONFIG: AuditConfig = {
  sinks: [{ type: 'postgres' }],
  bufferSize: 10_000,
  batchSize: 500,
  flushIntervalMs: 1_000,
  sampleEvery: 10,
  spoolDirectory: null,
  spoolSyncIntervalMs: 1_000,
  retentionDays: 30,
  usageFlushIntervalMs: 10_000,
  security: {
    unauthenticatedBurst: { threshold: 20, windowSeconds: 60 },
    impersonationBurst: { threshold: 5, windowSeconds: 60 },
    plainHttpSeconds: 3_600,
    tracked: 10_000
  }
}

/** `postgres`, `stdout`, `file:/path`, `off`, or several of the first three joined by commas. */
export function parseSinks (value: string): SinkSpec[] {
  const parts = value.split(',').map((part) => part.trim()).filter((part) => part !== '')
  if (parts.length === 1 && parts[0]?.toLowerCase() === 'off') return []
  if (parts.length === 0) throw new Error('expected postgres, stdout, file:/path or off')
  const sinks: SinkSpec[] = []
  for (const part of parts) {
    const lower = part.toLowerCase()
    let sink: SinkSpec
    if (lower === 'postgres') sink = { type: 'postgres' }
    else if (lower === 'stdout') sink = { type: 'stdout' }
    else if (lower.startsWith('file:') && part.length > 'file:'.length) sink = { type: 'file', path: part.slice('file:'.length) }
    else if (lower === 'off') throw new Error('off cannot be combined with a sink')
    else throw new Error(`unknown sink ${JSON.stringify(part)}: expected postgres, stdout, file:/path or off`)
    if (sinks.some((s) => JSON.stringify(s) === JSON.stringify(sink))) throw new Error(`${part} is listed twice`)
    sinks.push(sink)
  }
  return sinks
}

/** `COUNT/SECONDS`, e.g. `20/60`. */
export function parseBurst (value: string): BurstRule {
  const match = /^(\d{1,7})\s*\/\s*(\d{1,6})s?$/.exec(value)
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new Error('expected COUNT/SECONDS, e.g. 20/60')
  }
  return { threshold: Number(match[1]), windowSeconds: Number(match[2]) }
}
