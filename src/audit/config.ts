/** The audit's settings (KEYGATE_DECISION_LOG* and KEYGATE_SECURITY_*, read by src/config/) and the syntax of their values. */

import { redactUrl } from '../lib/url.js'

export type SinkSpec = { type: 'postgres' } | { type: 'stdout' } | { type: 'file'; path: string } | { type: 'http'; url: string }

/** How the http sink posts to its collector (OPA's decision-log service protocol). */
export interface HttpSinkConfig {
  /** Each POST is abandoned (and retried) after this long, ms (KEYGATE_DECISION_LOG_TIMEOUT_MS). */
  timeoutMs: number
  /** Sent with every POST (KEYGATE_DECISION_LOG_HEADERS); never logged. */
  headers: Record<string, string>
  /** A file holding a bearer token, read again for every POST so that it may rotate (KEYGATE_DECISION_LOG_TOKEN_FILE). */
  tokenFile: string | null
}

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
  http: HttpSinkConfig
  /**
   * Folder of the local spool of never-dropped entries, replayed into the store
   * at start after a crash; null: none (KEYGATE_DECISION_LOG_SPOOL). Used with
   * the postgres and http sinks.
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
  http: { timeoutMs: 10_000, headers: {}, tokenFile: null },
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

const EXPECTED = 'expected postgres, stdout, file:/path, http(s)://collector/path or off'

/** `postgres`, `stdout`, `file:/path`, `http(s)://…`, `off`, or several of the first four joined by commas. Messages never show a URL's credentials. */
export function parseSinks (value: string): SinkSpec[] {
  const parts = value.split(',').map((part) => part.trim()).filter((part) => part !== '')
  if (parts.length === 1 && parts[0]?.toLowerCase() === 'off') return []
  if (parts.length === 0) throw new Error(EXPECTED)
  const sinks: SinkSpec[] = []
  for (const part of parts) {
    const lower = part.toLowerCase()
    let sink: SinkSpec
    if (lower === 'postgres') sink = { type: 'postgres' }
    else if (lower === 'stdout') sink = { type: 'stdout' }
    else if (lower.startsWith('file:') && part.length > 'file:'.length) sink = { type: 'file', path: part.slice('file:'.length) }
    else if (/^https?:\/\//.test(lower)) sink = { type: 'http', url: collectorUrl(part) }
    else if (lower === 'off') throw new Error('off cannot be combined with a sink')
    else throw new Error(`unknown sink ${/^[a-z][a-z0-9+.-]*:\/\//.test(lower) ? `${lower.slice(0, lower.indexOf(':'))}://…` : JSON.stringify(part)}: ${EXPECTED}`)
    if (sinks.some((s) => JSON.stringify(s) === JSON.stringify(sink))) throw new Error(`${redactUrl(part)} is listed twice`)
    sinks.push(sink)
  }
  return sinks
}

function collectorUrl (text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new Error(`${JSON.stringify(redactUrl(text))} is not a valid URL`)
  }
  if (url.hash !== '') throw new Error(`${redactUrl(text)}: a collector URL has no #fragment`)
  return url.href
}

/**
 * `name=value` pairs joined by commas, values percent-encoded where they hold
 * a comma (the syntax of OTEL_EXPORTER_OTLP_HEADERS), e.g.
 * `Authorization=Bearer%20abc,X-Scope-OrgID=keygate`. Messages name the
 * header, never its value.
 */
export function parseHeaders (value: string): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [i, pair] of value.split(',').entries()) {
    const at = pair.indexOf('=')
    const name = (at < 0 ? pair : pair.slice(0, at)).trim()
    if (at < 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`entry ${i + 1}: expected name=value, e.g. Authorization=Bearer%20TOKEN`)
    let decoded: string
    try {
      decoded = decodeURIComponent(pair.slice(at + 1).trim())
    } catch {
      throw new Error(`${name}: the value is not valid percent-encoding`)
    }
    // A line break would end the header and start another one.
    if (/[\r\n\0]/.test(decoded)) throw new Error(`${name}: the value holds a line break`)
    const key = name.toLowerCase()
    if (key in headers) throw new Error(`${name} is given twice`)
    if (['content-type', 'content-encoding', 'content-length', 'host'].includes(key)) throw new Error(`${name} is set by Keygate`)
    headers[key] = decoded
  }
  return headers
}

/** `COUNT/SECONDS`, e.g. `20/60`. */
export function parseBurst (value: string): BurstRule {
  const match = /^(\d{1,7})\s*\/\s*(\d{1,6})s?$/.exec(value)
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new Error('expected COUNT/SECONDS, e.g. 20/60')
  }
  return { threshold: Number(match[1]), windowSeconds: Number(match[2]) }
}
