/**
 * Audit settings, read once from KEYGATE_* variables at start; every problem
 * is reported together.
 */

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
  retentionDays: 30,
  usageFlushIntervalMs: 10_000,
  security: {
    unauthenticatedBurst: { threshold: 20, windowSeconds: 60 },
    impersonationBurst: { threshold: 5, windowSeconds: 60 },
    plainHttpSeconds: 3_600,
    tracked: 10_000
  }
}

export class AuditConfigError extends Error {
  static code = 'CONFIG_INVALID'
  code = AuditConfigError.code
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'AuditConfigError'
    this.problems = problems
  }
}

/** Reads KEYGATE_DECISION_LOG* and KEYGATE_SECURITY_* variables; throws AuditConfigError listing every problem. */
export function loadAuditConfig (env: NodeJS.ProcessEnv): AuditConfig {
  const problems: string[] = []
  const check = <T>(name: string, fallback: T, parse: (value: string) => T): T => {
    const value = env[name]?.trim()
    if (value === undefined || value === '') return fallback
    try {
      return parse(value)
    } catch (error) {
      problems.push(`${name}=${JSON.stringify(value)}: ${(error as Error).message}`)
      return fallback
    }
  }
  const d = DEFAULT_AUDIT_CONFIG
  const config: AuditConfig = {
    sinks: check('KEYGATE_DECISION_LOG', d.sinks, parseSinks),
    bufferSize: check('KEYGATE_DECISION_LOG_BUFFER', d.bufferSize, integer(16, 10_000_000)),
    batchSize: check('KEYGATE_DECISION_LOG_BATCH', d.batchSize, integer(1, 5_000)),
    flushIntervalMs: check('KEYGATE_DECISION_LOG_FLUSH_MS', d.flushIntervalMs, integer(10, 600_000)),
    sampleEvery: check('KEYGATE_DECISION_LOG_SAMPLE', d.sampleEvery, integer(1, 1_000_000)),
    retentionDays: check('KEYGATE_DECISION_LOG_RETENTION_DAYS', d.retentionDays, integer(0, 36_500)),
    usageFlushIntervalMs: check('KEYGATE_KEY_USAGE_FLUSH_MS', d.usageFlushIntervalMs, integer(10, 3_600_000)),
    security: {
      unauthenticatedBurst: check('KEYGATE_SECURITY_UNAUTHENTICATED_BURST', d.security.unauthenticatedBurst, parseBurst),
      impersonationBurst: check('KEYGATE_SECURITY_IMPERSONATION_BURST', d.security.impersonationBurst, parseBurst),
      plainHttpSeconds: check('KEYGATE_SECURITY_PLAIN_HTTP_SECONDS', d.security.plainHttpSeconds, integer(0, 30 * 86_400)),
      tracked: check('KEYGATE_SECURITY_TRACKED', d.security.tracked, integer(1, 10_000_000))
    }
  }
  if (config.batchSize > config.bufferSize) {
    problems.push('KEYGATE_DECISION_LOG_BATCH must not exceed KEYGATE_DECISION_LOG_BUFFER')
  }
  if (problems.length > 0) throw new AuditConfigError(problems)
  return config
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

function parseBurst (value: string): BurstRule {
  const match = /^(\d{1,7})\s*\/\s*(\d{1,6})s?$/.exec(value)
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new Error('expected COUNT/SECONDS, e.g. 20/60')
  }
  return { threshold: Number(match[1]), windowSeconds: Number(match[2]) }
}

function integer (min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new Error(`must be a whole number from ${min} to ${max}`)
    }
    return Number(value)
  }
}
