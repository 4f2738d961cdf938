import { createHash, randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { AuditConfig } from '../audit/config.js'
import type { ThrottleOptions, ThrottleRule } from '../limits/throttle.js'
import type { SessionOptions } from '../sessions/options.js'
import { signingSecretFromFile } from '../sessions/secret.js'
import { DEFAULT_DATA_DIR } from '../store/database.js'
import { ConfigError, signingSecretProblem } from './load.js'
import type { Config } from './variables.js'

/** The configuration in the shapes the modules take. */

/** Settings laid over the bundle's data.keygate.config; only when asked, since a custom bundle need not know them. */
export function policyConfigOf (config: Config): Record<string, unknown> | undefined {
  return config.requireHttps ? { require_https: true } : undefined
}

export function auditConfigOf (config: Config): AuditConfig {
  return {
    sinks: config.decisionLog,
    bufferSize: config.decisionLogBuffer,
    batchSize: config.decisionLogBatch,
    flushIntervalMs: config.decisionLogFlushMs,
    sampleEvery: config.decisionLogSample,
    http: { timeoutMs: config.decisionLogTimeoutMs, headers: config.decisionLogHeaders, tokenFile: config.decisionLogTokenFile ?? null },
    spoolDirectory: spoolDirectoryOf(config),
    spoolSyncIntervalMs: config.decisionLogSpoolSyncMs,
    retentionDays: config.decisionLogRetentionDays,
    usageFlushIntervalMs: config.keyUsageFlushMs,
    security: {
      unauthenticatedBurst: config.securityUnauthenticatedBurst,
      impersonationBurst: config.securityImpersonationBurst,
      plainHttpSeconds: config.securityPlainHttpSeconds,
      tracked: config.securityTracked
    }
  }
}

/** The failed-authentication throttle (createAuthorizer's `throttle`). */
export function throttleOf (config: Config): Omit<ThrottleOptions, 'tracked'> {
  const rule = (r: { count: number; windowSeconds: number } | null): ThrottleRule | null => r === null ? null : { failures: r.count, windowSeconds: r.windowSeconds }
  return { client: rule(config.throttleClient), prefix: rule(config.throttlePrefix) }
}

/**
 * The spool folder of this store: a folder of its own per database under
 * KEYGATE_DECISION_LOG_SPOOL, so that instances of different stores sharing a
 * machine never replay each other's entries; none for an in-memory store.
 */
export function spoolDirectoryOf (config: Config): string | null {
  if (config.decisionLogSpool === null) return null
  let target: string
  if (config.databaseUrl !== undefined) {
    const url = new URL(config.databaseUrl)
    url.password = ''
    target = `${url.username}@${url.host}${url.pathname}`
  } else {
    target = resolve(config.dataDir ?? DEFAULT_DATA_DIR)
    if (target.startsWith('memory:') || (config.dataDir ?? '').startsWith('memory://')) return null
  }
  return join(resolve(config.decisionLogSpool), createHash('sha256').update(target).digest('hex').slice(0, 16))
}

/** Processes serving the port: one per core with a PostgreSQL server, one with the embedded store (which one process may open). */
export function workersOf (config: Config): number {
  return config.workers ?? (config.databaseUrl === undefined ? 1 : availableParallelism())
}

export function tlsOf (config: Config): { cert: Buffer; key: Buffer } | undefined {
  return config.tlsCert !== undefined && config.tlsKey !== undefined ? { cert: config.tlsCert, key: config.tlsKey } : undefined
}

export interface SessionSettings {
  /** For `new Sessions({ db, ...options })`. */
  options: Omit<SessionOptions, 'db'>
  /** KEYGATE_SIGNING_KEY_ROTATE_DAYS in seconds, for `Sessions.scheduleRotation`; null: rotate by hand only. */
  rotateAfterSeconds: number | null
}

/**
 * The session-token settings. The signing secret is KEYGATE_SIGNING_SECRET;
 * without it (embedded store only) the key file KEYGATE_SIGNING_KEY_FILE,
 * by default `signing.key` beside the data folder, generated with mode 0600
 * on first use; an in-memory store (`memory://`) gets a secret that lives as
 * long as the process. Throws ConfigError (or SessionConfigError for the key
 * file); never echoes the secret.
 */
export async function sessionSettingsOf (config: Config): Promise<SessionSettings> {
  const problem = signingSecretProblem(config)
  if (problem !== null) throw new ConfigError([problem])
  return {
    options: {
      secret: config.signingSecret ?? await embeddedSecret(config),
      issuer: config.sessionIssuer,
      audience: config.sessionAudience,
      defaultDurationSeconds: config.sessionDefaultSeconds,
      maxDurationSeconds: config.sessionMaxSeconds
    },
    rotateAfterSeconds: config.signingKeyRotateDays === undefined ? null : config.signingKeyRotateDays * 86_400
  }
}

async function embeddedSecret (config: Config): Promise<Buffer> {
  const dataDir = config.dataDir ?? DEFAULT_DATA_DIR
  // Nothing outlives an in-memory store, so neither need its keys.
  if (config.signingKeyFile === undefined && dataDir.startsWith('memory://')) return randomBytes(32)
  return await signingSecretFromFile(config.signingKeyFile ?? join(dirname(dataDir), 'signing.key'))
}
