import { parseBurst, parseHeaders, parseSinks, DEFAULT_AUDIT_CONFIG as AUDIT } from '../audit/config.js'
import { validateEmail } from '../manage/accounts.js'
import { DEFAULT_KEY_AGE } from '../manage/keys.js'
import { DEFAULT_BUNDLE_PATH } from '../policy/engine.js'
import { parseSigningSecret } from '../sessions/secret.js'
import { DEFAULT_THROTTLE, type ThrottleRule } from '../limits/throttle.js'
import * as parse from './parse.js'

function perWindow (rule: ThrottleRule | null): { count: number; windowSeconds: number } | null {
  return rule === null ? null : { count: rule.failures, windowSeconds: rule.windowSeconds }
}

/** One KEYGATE_* variable: how its text is read, what it is when unset, and what docs/configuration.md's table says of that. */
export interface Variable<T> {
  name: `KEYGATE_${string}`
  parse: parse.Parse<T>
  /** The value when the variable is unset or empty. */
  fallback: T
  /** The "default" cell of docs/configuration.md, verbatim (test/config/readme.ts keeps them in step). */
  shown: string
  /** Never echoed in a problem report. */
  secret?: boolean
}

function required<T> (name: `KEYGATE_${string}`, fallback: T, shown: string, parser: parse.Parse<T>, secret = false): Variable<T> {
  return { name, parse: parser, fallback, shown, secret }
}

function optional<T> (name: `KEYGATE_${string}`, parser: parse.Parse<T>, options: { shown?: string, secret?: boolean } = {}): Variable<T | undefined> {
  return { name, parse: parser, fallback: undefined, shown: options.shown ?? '—', secret: options.secret ?? false }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const MONTH = 30 * 86_400

/**
 * Every KEYGATE_* variable Keygate reads, and the field of the configuration
 * it becomes. Adding a variable is adding one line here (and a row to the
 * configuration table in docs/configuration.md); loadConfig() then reads, checks and types it.
 * Checks that involve several variables are in load.ts.
 */
export const VARIABLES = {
  // The server
  host: required('KEYGATE_HOST', '127.0.0.1', '`127.0.0.1`', parse.host),
  port: required('KEYGATE_PORT', 8080, '`8080`', parse.port),
  grpcPort: optional('KEYGATE_GRPC_PORT', parse.port, { shown: '— (off)' }),
  grpcRemoveAuthorization: required('KEYGATE_GRPC_REMOVE_AUTHORIZATION', false, '`false`', parse.boolean),
  workers: optional('KEYGATE_WORKERS', parse.integer(1, 1024), { shown: 'one per core with `KEYGATE_DATABASE_URL`, else `1`' }),
  tlsCert: optional('KEYGATE_TLS_CERT', parse.pemFile),
  tlsKey: optional('KEYGATE_TLS_KEY', parse.pemFile),
  trustProxy: required<boolean | string[]>('KEYGATE_TRUST_PROXY', false, '`false`', parse.trustProxy),
  logLevel: required('KEYGATE_LOG_LEVEL', 'info', '`info`', parse.oneOf(LOG_LEVELS)),
  decisionTimeoutMs: required('KEYGATE_DECISION_TIMEOUT_MS', 2_000, '`2000`', parse.integer(1, 999_999, 'milliseconds')),
  staleIfErrorSeconds: required('KEYGATE_STALE_IF_ERROR_SECONDS', 30, '`30`', parse.decimal(0, 86_400)),
  decisionReasons: required('KEYGATE_DECISION_REASONS', false, '`false`', parse.boolean),
  requireHttps: required('KEYGATE_REQUIRE_HTTPS', false, '`false`', parse.boolean),
  decisionApiToken: optional('KEYGATE_DECISION_API_TOKEN', parse.bearerSecret, { secret: true }),

  // Abuse protection (src/limits)
  throttleClient: required('KEYGATE_THROTTLE_CLIENT', perWindow(DEFAULT_THROTTLE.client), '`50/60`', parse.perWindow),
  throttlePrefix: required('KEYGATE_THROTTLE_PREFIX', perWindow(DEFAULT_THROTTLE.prefix), '`20/60`', parse.perWindow),

  // The store
  databaseUrl: optional('KEYGATE_DATABASE_URL', parse.postgresUrl, { secret: true }),
  databaseReplicaUrls: required<string[]>('KEYGATE_DATABASE_REPLICA_URLS', [], '—', parse.postgresUrls, true),
  listenDatabaseUrl: optional('KEYGATE_LISTEN_DATABASE_URL', parse.postgresUrl, { shown: '`KEYGATE_DATABASE_URL`', secret: true }),
  dataDir: optional('KEYGATE_DATA_DIR', parse.text, { shown: '`.keygate/data`' }),
  bootstrapEmail: required('KEYGATE_BOOTSTRAP_EMAIL', 'admin@keygate.localhost', '`admin@keygate.localhost`', validateEmail),

  // The policy
  policyBundle: required('KEYGATE_POLICY_BUNDLE', DEFAULT_BUNDLE_PATH, '`build/bundle.tar.gz`', parse.pathOrHttpUrl),
  policyPollSeconds: optional('KEYGATE_POLICY_POLL_SECONDS', parse.decimal(0, 86_400), { shown: '`5` (file), `30` (URL)' }),
  policyBundleToken: optional('KEYGATE_POLICY_BUNDLE_TOKEN', parse.text, { secret: true }),
  opa: optional('KEYGATE_OPA', parse.text, { shown: '`.tools/bin/opa`, else `opa` on the `PATH`' }),

  // Session tokens
  signingSecret: optional('KEYGATE_SIGNING_SECRET', parseSigningSecret, { secret: true }),
  signingKeyFile: optional('KEYGATE_SIGNING_KEY_FILE', parse.text, { shown: '`signing.key` beside the data folder (`.keygate/signing.key`)' }),
  sessionIssuer: required('KEYGATE_SESSION_ISSUER', 'keygate', '`keygate`', parse.text),
  sessionAudience: required('KEYGATE_SESSION_AUDIENCE', 'keygate', '`keygate`', parse.text),
  sessionDefaultSeconds: optional('KEYGATE_SESSION_DEFAULT_SECONDS', parse.integer(1, MONTH), { shown: '`900` (or the maximum, if lower)' }),
  sessionMaxSeconds: optional('KEYGATE_SESSION_MAX_SECONDS', parse.integer(1, MONTH), { shown: '`86400`' }),
  signingKeyRotateDays: optional('KEYGATE_SIGNING_KEY_ROTATE_DAYS', parse.integer(1, 3650)),

  // The console
  console: required('KEYGATE_CONSOLE', true, '`true`', parse.boolean),
  consoleIdleSeconds: required('KEYGATE_CONSOLE_IDLE_SECONDS', 1_800, '`1800`', parse.integer(60, 86_400)),
  consoleLifetimeSeconds: required('KEYGATE_CONSOLE_LIFETIME_SECONDS', 43_200, '`43200`', parse.integer(60, MONTH)),
  keyUnusedDays: required('KEYGATE_KEY_UNUSED_DAYS', DEFAULT_KEY_AGE.unusedDays, '`90`', parse.integer(1, 99_999)),
  keyRotationDays: required('KEYGATE_KEY_ROTATION_DAYS', DEFAULT_KEY_AGE.rotationDays, '`90`', parse.integer(1, 99_999)),

  // The audit
  // Secret: a collector's URL may hold credentials (never echoed; parseSinks names a sink without them).
  decisionLog: required('KEYGATE_DECISION_LOG', AUDIT.sinks, '`postgres`', parseSinks, true),
  decisionLogBuffer: required('KEYGATE_DECISION_LOG_BUFFER', AUDIT.bufferSize, '`10000`', parse.integer(16, 10_000_000)),
  decisionLogBatch: required('KEYGATE_DECISION_LOG_BATCH', AUDIT.batchSize, '`500`', parse.integer(1, 5_000)),
  decisionLogFlushMs: required('KEYGATE_DECISION_LOG_FLUSH_MS', AUDIT.flushIntervalMs, '`1000`', parse.integer(10, 600_000)),
  decisionLogSample: required('KEYGATE_DECISION_LOG_SAMPLE', AUDIT.sampleEvery, '`10`', parse.integer(1, 1_000_000)),
  decisionLogTimeoutMs: required('KEYGATE_DECISION_LOG_TIMEOUT_MS', AUDIT.http.timeoutMs, '`10000`', parse.integer(100, 600_000, 'milliseconds')),
  decisionLogHeaders: required('KEYGATE_DECISION_LOG_HEADERS', AUDIT.http.headers, '—', parseHeaders, true),
  decisionLogTokenFile: optional('KEYGATE_DECISION_LOG_TOKEN_FILE', parse.text),
  decisionLogSpool: required<string | null>('KEYGATE_DECISION_LOG_SPOOL', '.keygate/spool', '`.keygate/spool`', parse.pathOrOff),
  decisionLogSpoolSyncMs: required('KEYGATE_DECISION_LOG_SPOOL_SYNC_MS', AUDIT.spoolSyncIntervalMs, '`1000`', parse.integer(0, 60_000)),
  decisionLogRetentionDays: required('KEYGATE_DECISION_LOG_RETENTION_DAYS', AUDIT.retentionDays, '`30`', parse.integer(0, 36_500)),
  keyUsageFlushMs: required('KEYGATE_KEY_USAGE_FLUSH_MS', AUDIT.usageFlushIntervalMs, '`10000`', parse.integer(10, 3_600_000)),
  securityUnauthenticatedBurst: required('KEYGATE_SECURITY_UNAUTHENTICATED_BURST', AUDIT.security.unauthenticatedBurst, '`20/60`', parseBurst),
  securityImpersonationBurst: required('KEYGATE_SECURITY_IMPERSONATION_BURST', AUDIT.security.impersonationBurst, '`5/60`', parseBurst),
  securityPlainHttpSeconds: required('KEYGATE_SECURITY_PLAIN_HTTP_SECONDS', AUDIT.security.plainHttpSeconds, '`3600`', parse.integer(0, MONTH)),
  securityTracked: required('KEYGATE_SECURITY_TRACKED', AUDIT.security.tracked, '`10000`', parse.integer(1, 10_000_000))
} satisfies Record<string, Variable<unknown>>

/** Read by the test suite and the benchmarks, not by Keygate: known, so never warned about, and not in docs/configuration.md. */
export const TOOLING_VARIABLES = [
  'KEYGATE_TEST_DATABASE_URL', 'KEYGATE_TEST_PRIMARY_URL', 'KEYGATE_TEST_REPLICA_URL', 'KEYGATE_TEST_PGBOUNCER_URL', 'KEYGATE_BENCH_DATABASE_URL', 'KEYGATE_FUZZ_SEED', 'KEYGATE_FUZZ_RUNS', 'KEYGATE_DIFFERENTIAL_RUNS'
] as const

type Variables = typeof VARIABLES

/** The checked configuration: one field per variable, typed by its parser. */
export type Config = { readonly [K in keyof Variables]: Variables[K] extends Variable<infer T> ? T : never }
