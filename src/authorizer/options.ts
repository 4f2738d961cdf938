import type { SessionVerifier } from '../principal/resolve.js'
import type { CacheOptions } from '../principal/accounts.js'
import type { PolicyEngine } from '../policy/engine.js'
import type { PolicySource } from '../policy/source.js'
import type { Store, StoreChange } from '../store/store.js'
import { DEFAULT_THROTTLE, type ThrottleOptions } from '../limits/throttle.js'
import type { DecisionRecord } from './result.js'

/** What the caches did, for metrics and logs. */
export type AuthorizerEvent =
  /** A change announced by the store (from any instance) dropped what the caches held about it. */
  | { type: 'invalidated'; change: StoreChange }
  /** The listening connection was lost: until `resync`, the caches hold nothing and every decision asks the store. */
  | { type: 'listen_lost' }
  /** Changes may have been missed (the listening connection was lost and is back): every cache was cleared, and caches again. */
  | { type: 'resync' }
  /** The store failed and a key or account past its TTL was served (stale-if-error). */
  | { type: 'stale'; cache: 'key' | 'account' }
  /** Subscribing to change notifications failed (the store is down); retried with backoff. */
  | { type: 'listen_failed'; error: Error }
  /** Sharing the rate-limit counters with the store failed (reported once until it works again); what was counted is sent with the next sync. */
  | { type: 'limit_sync_failed'; error: Error }

export interface AuthorizerOptions {
  /** An open store; the authorizer does not close it. */
  store?: Store
  /** PostgreSQL server; without it (and without `store`) the embedded store in `dataDir` is used. */
  databaseUrl?: string
  /** Embedded store folder, default `.keygate/data`; `memory://` keeps nothing. */
  dataDir?: string
  /** Apply pending migrations when opening the store (default true; safe with several instances). */
  migrate?: boolean
  /**
   * A loaded policy, the path of an `opa build -t wasm` bundle (default
   * `build/bundle.tar.gz`), or a source that may replace the policy while
   * running (a `PolicyReloader`; the authorizer does not close it).
   */
  policy?: PolicyEngine | string | PolicySource
  cache?: Partial<CacheOptions>
  /**
   * Subscribe to the store's change notifications (LISTEN/NOTIFY), so that
   * a right taken away on any instance is gone here at once (default true).
   */
  invalidation?: boolean
  /**
   * Longest the store may take to answer for one decision, in ms (default
   * 2000): past it the decision is a 503 — or uses a stale cached value, see
   * `cache.staleIfErrorMs`.
   */
  decisionTimeoutMs?: number
  /** Cache events (invalidations, resyncs, stale values served); must not throw. */
  onEvent?: (event: AuthorizerEvent) => void
  /**
   * Verifies session tokens. Default: Keygate's own tokens, checked against the
   * store's signing keys with the default issuer and audience (`keygate`);
   * pass a `Sessions` to mint too or to change those, or `false` to accept
   * secret keys only.
   */
  sessions?: SessionVerifier | false
  /**
   * Decisions of the current second remembered per distinct request
   * (credential and X-RunAs-* headers, method, path, scheme), default 1024;
   * 0 turns it off. Emptied by every invalidation and when the second
   * changes; see DecisionMemo. Rests on the same premise as the policy's
   * decision cache: the policy reads the clock only to the second.
   */
  decisionMemo?: number
  /**
   * Failed authentications (401s) per client address and per presented key
   * prefix after which requests are answered 429 until the window ends
   * (default DEFAULT_THROTTLE: 50 per client and 20 per prefix within 60 s);
   * `false` turns it off. The client address is `request.client.address`.
   */
  throttle?: Partial<ThrottleOptions> | false
  /**
   * How often the counters of rate limits and quotas are shared with the
   * other instances through the store, in ms (default 50): the lower, the
   * closer instances stay to a limit (see docs/rate-limits.md for the bound),
   * at one statement per interval while limited keys are in use.
   */
  limitSyncMs?: number
  /** Epoch milliseconds; for tests. */
  clock?: () => number
  /**
   * Called once per decision, after it is made; must not throw. When it returns
   * a promise, `authorize()` waits for it before answering (the decision log's
   * backpressure for entries it may not drop); a rejection is ignored.
   */
  onDecision?: (record: DecisionRecord) => void | Promise<void>
}

export const DEFAULT_CACHE: CacheOptions = { max: 10_000, ttlMs: 60_000, negativeTtlMs: 5_000, staleIfErrorMs: 30_000, maxPendingLookups: 1_000 }
export const DEFAULT_DECISION_TIMEOUT_MS = 2_000
export const DEFAULT_DECISION_MEMO = 1024

export function validateOptions (options: AuthorizerOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('createAuthorizer: options must be an object')
  if (options.store !== undefined && (options.databaseUrl !== undefined || options.dataDir !== undefined)) {
    throw new TypeError('createAuthorizer: pass either store or databaseUrl/dataDir, not both')
  }
  if (options.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(options.databaseUrl)) {
    throw new TypeError('createAuthorizer: databaseUrl must be a postgres:// URL')
  }
  const cache = options.cache ?? {}
  for (const name of ['max', 'ttlMs', 'negativeTtlMs', 'maxPendingLookups'] as const) {
    const value = cache[name]
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      throw new TypeError(`createAuthorizer: cache.${name} must be a positive integer`)
    }
  }
  if (cache.staleIfErrorMs !== undefined && (!Number.isInteger(cache.staleIfErrorMs) || cache.staleIfErrorMs < 0)) {
    throw new TypeError('createAuthorizer: cache.staleIfErrorMs must be a non-negative integer')
  }
  const timeout = options.decisionTimeoutMs
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0)) {
    throw new TypeError('createAuthorizer: decisionTimeoutMs must be a positive integer')
  }
  const memo = options.decisionMemo
  if (memo !== undefined && (!Number.isInteger(memo) || memo < 0)) {
    throw new TypeError('createAuthorizer: decisionMemo must be a non-negative integer')
  }
  if (options.invalidation !== undefined && typeof options.invalidation !== 'boolean') {
    throw new TypeError('createAuthorizer: invalidation must be a boolean')
  }
  if (options.sessions !== undefined && options.sessions !== false && typeof options.sessions?.verify !== 'function') {
    throw new TypeError('createAuthorizer: sessions must be a Sessions (or a SessionVerifier), or false')
  }
  throttleOptionsOf(options.throttle)
  const sync = options.limitSyncMs
  if (sync !== undefined && (!Number.isInteger(sync) || sync <= 0 || sync > 60_000)) {
    throw new TypeError('createAuthorizer: limitSyncMs must be an integer from 1 to 60000')
  }
  for (const name of ['clock', 'onDecision', 'onEvent'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new TypeError(`createAuthorizer: ${name} must be a function`)
    }
  }
}

/** The throttle's settings with the defaults filled in; null: off. Throws TypeError on a malformed rule. */
export function throttleOptionsOf (throttle: AuthorizerOptions['throttle']): ThrottleOptions | null {
  if (throttle === false) return null
  if (throttle !== undefined && (typeof throttle !== 'object' || throttle === null)) throw new TypeError('createAuthorizer: throttle must be an object or false')
  const options = { ...DEFAULT_THROTTLE, ...throttle }
  for (const name of ['client', 'prefix'] as const) {
    const rule = options[name]
    if (rule !== null && !(Number.isInteger(rule?.failures) && rule.failures > 0 && Number.isInteger(rule.windowSeconds) && rule.windowSeconds > 0)) {
      throw new TypeError(`createAuthorizer: throttle.${name} must be {failures, windowSeconds} (positive integers) or null`)
    }
  }
  if (!Number.isInteger(options.tracked) || options.tracked <= 0) throw new TypeError('createAuthorizer: throttle.tracked must be a positive integer')
  return options.client === null && options.prefix === null ? null : options
}
