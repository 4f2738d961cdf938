import type { SessionVerifier } from '../principal/resolve.js'
import type { CacheOptions } from '../principal/accounts.js'
import type { PolicyEngine } from '../policy/engine.js'
import type { Store } from '../store/store.js'
import type { DecisionRecord } from './result.js'

export interface AuthorizerOptions {
  /** An open store; the authorizer does not close it. */
  store?: Store
  /** PostgreSQL server; without it (and without `store`) the embedded store in `dataDir` is used. */
  databaseUrl?: string
  /** Embedded store folder, default `.keygate/data`; `memory://` keeps nothing. */
  dataDir?: string
  /** Apply pending migrations when opening the store (default true; safe with several instances). */
  migrate?: boolean
  /** A loaded policy, or the path of an `opa build -t wasm` bundle (default `build/bundle.tar.gz`). */
  policy?: PolicyEngine | string
  cache?: Partial<CacheOptions>
  sessions?: SessionVerifier
  /** Epoch milliseconds; for tests. */
  clock?: () => number
  /**
   * Called once per decision, after it is made; must not throw. When it returns
   * a promise, `authorize()` waits for it before answering (the decision log's
   * backpressure for entries it may not drop); a rejection is ignored.
   */
  onDecision?: (record: DecisionRecord) => void | Promise<void>
}

export const DEFAULT_CACHE: CacheOptions = { max: 10_000, ttlMs: 60_000, negativeTtlMs: 5_000 }

export function validateOptions (options: AuthorizerOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('createAuthorizer: options must be an object')
  if (options.store !== undefined && (options.databaseUrl !== undefined || options.dataDir !== undefined)) {
    throw new TypeError('createAuthorizer: pass either store or databaseUrl/dataDir, not both')
  }
  if (options.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(options.databaseUrl)) {
    throw new TypeError('createAuthorizer: databaseUrl must be a postgres:// URL')
  }
  const cache = options.cache ?? {}
  for (const name of ['max', 'ttlMs', 'negativeTtlMs'] as const) {
    const value = cache[name]
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      throw new TypeError(`createAuthorizer: cache.${name} must be a positive integer`)
    }
  }
  for (const name of ['clock', 'onDecision'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new TypeError(`createAuthorizer: ${name} must be a function`)
    }
  }
}
