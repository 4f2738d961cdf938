import type { Database } from '../store/types.js'

export interface SessionOptions {
  /** The store's database (PostgreSQL or PGlite), migrated. */
  db: Database
  /**
   * 32-byte key that seals the private signing keys at rest; see `loadSigningSecret`.
   * Omitted: this object only verifies tokens (public keys need no secret), and
   * minting or rotating throws a TypeError.
   */
  secret?: Buffer
  /** `iss` of every token; default `keygate`. */
  issuer?: string
  /** `aud` of every token; default `keygate`. */
  audience?: string
  /** Lifetime when the request names none; default 900 s (or the maximum, if lower). */
  defaultDurationSeconds?: number
  /** Longest lifetime a caller may ask for; default 86 400 s (24 h). Also the `maxTokenAge` at verification. */
  maxDurationSeconds?: number
  /** Clock skew forgiven on `exp`, `nbf` and `iat`; default 5 s. */
  clockToleranceSeconds?: number
  /** Longer tokens are refused before any parsing or crypto; default 4096 characters. */
  maxTokenLength?: number
  cache?: {
    /** Verified tokens kept; default 10 000. */
    max?: number
    /** How long a verified token is served without asking the store again; default 60 s (never past `exp`). */
    ttlMs?: number
  }
  /** How often the signing-key set is re-read from the store, besides notifications; default 60 s. */
  keyRefreshMs?: number
  /** Epoch milliseconds; for tests. */
  clock?: () => number
}

export interface ResolvedSessionOptions {
  db: Database
  /** null: verification only. */
  secret: Buffer | null
  issuer: string
  audience: string
  defaultDurationSeconds: number
  maxDurationSeconds: number
  clockToleranceSeconds: number
  maxTokenLength: number
  cacheMax: number
  cacheTtlMs: number
  keyRefreshMs: number
  clock: () => number
}

/** Media type in the `typ` header (RFC 8725 §3.11): no other kind of JWT passes for a session token. */
export const SESSION_TOKEN_TYPE = 'keygate-session+jwt'
export const MIN_DURATION_SECONDS = 1
/** Hard ceiling on the operator's maximum: 30 days. */
const MAX_DURATION_CEILING = 30 * 24 * 3600
/** The smallest useful token is ~400 characters; 15 KB is far beyond anything Keygate mints. */
const MIN_TOKEN_LENGTH_LIMIT = 512
const MAX_TOKEN_LENGTH_LIMIT = 8192

/** Validates options once, at construction; throws TypeError naming the option. */
export function resolveSessionOptions (options: SessionOptions): ResolvedSessionOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('sessions: options must be an object')
  const { db, secret } = options
  if (typeof db?.query !== 'function' || typeof db.transaction !== 'function') {
    throw new TypeError('sessions: db must be a Database (query, transaction)')
  }
  if (secret !== undefined && (!Buffer.isBuffer(secret) || secret.length !== 32)) throw new TypeError('sessions: secret must be a 32-byte Buffer')
  const maxDurationSeconds = whole('maxDurationSeconds', options.maxDurationSeconds ?? 86_400, MIN_DURATION_SECONDS, MAX_DURATION_CEILING)
  const resolved: ResolvedSessionOptions = {
    db,
    secret: secret ?? null,
    issuer: text('issuer', options.issuer ?? 'keygate'),
    audience: text('audience', options.audience ?? 'keygate'),
    maxDurationSeconds,
    // A maximum below 900 s lowers the default with it, unless a default is given.
    defaultDurationSeconds: whole('defaultDurationSeconds', options.defaultDurationSeconds ?? Math.min(900, maxDurationSeconds), MIN_DURATION_SECONDS, MAX_DURATION_CEILING),
    clockToleranceSeconds: whole('clockToleranceSeconds', options.clockToleranceSeconds ?? 5, 0, 300),
    maxTokenLength: whole('maxTokenLength', options.maxTokenLength ?? 4096, MIN_TOKEN_LENGTH_LIMIT, MAX_TOKEN_LENGTH_LIMIT),
    cacheMax: whole('cache.max', options.cache?.max ?? 10_000, 1, 10_000_000),
    cacheTtlMs: whole('cache.ttlMs', options.cache?.ttlMs ?? 60_000, 1, 3_600_000),
    keyRefreshMs: whole('keyRefreshMs', options.keyRefreshMs ?? 60_000, 1_000, 3_600_000),
    clock: options.clock ?? Date.now
  }
  if (typeof resolved.clock !== 'function') throw new TypeError('sessions: clock must be a function')
  if (resolved.defaultDurationSeconds > resolved.maxDurationSeconds) {
    throw new TypeError('sessions: defaultDurationSeconds must not exceed maxDurationSeconds')
  }
  return resolved
}

function text (name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw new TypeError(`sessions: ${name} must be a non-empty string of at most 256 characters`)
  }
  return value
}

function whole (name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`sessions: ${name} must be an integer from ${min} to ${max}`)
  }
  return value
}
