import { LRUCache } from 'lru-cache'
import { Suspension } from '../../lib/suspension.js'
import { StoreUnavailableError } from '../../store/errors.js'

export interface LookupCacheOptions {
  /** Most entries kept. */
  max: number
  /** How long a found value is served without asking the store again. */
  ttlMs: number
  /** How long "not found" is remembered. */
  negativeTtlMs: number
  /** How long past ttlMs a found value may still be served while the store fails (0: never). */
  staleIfErrorMs: number
  /** Most distinct lookups waiting for the store at once; more fail at once as unavailable. */
  maxPending: number
  /** Called when a value past its TTL is served because the store failed. */
  onStale?: () => void
  /** Called when a key leaves the cache (evicted, deleted, cleared), or a loaded value is not admitted. */
  dispose?: (value: unknown, key: string) => void
}

export interface CacheStats {
  /** Lookups answered from the cache while fresh (found or "not found"). */
  hits: number
  /** Lookups that went to the store (or waited on a query already going). */
  misses: number
  size: number
}

/** lru-cache cannot hold null or undefined. */
const MISSING = Symbol('missing')

interface Entry<T> {
  value: T | typeof MISSING
  /** performance.now() until which the value is served without a store query. */
  freshUntil: number
}

/**
 * A bounded cache in front of one kind of store lookup, with the rules every
 * principal lookup follows:
 *
 * - a found value is served for `ttlMs`, "not found" for `negativeTtlMs`;
 * - concurrent misses on one key share one store query (at most `maxPending`
 *   distinct queries wait at once; beyond that a lookup fails as unavailable);
 * - a store query runs against the caller's deadline: past it the lookup fails
 *   as unavailable (the query goes on and is discarded);
 * - stale-if-error: when the store fails (or misses the deadline), a *found*
 *   value at most `staleIfErrorMs` past its TTL is served instead. "Not
 *   found" is never served stale (that would turn an outage into a 401), and
 *   an entry dropped by `delete`/`clear` (a notification) is gone for good;
 * - a lookup that overlapped a `delete`/`clear` returns what it read but does
 *   not cache it (it may predate the change that was announced);
 * - while `suspend`ed (the notifications that would drop entries cannot be
 *   heard), it holds nothing: every lookup asks the store, and nothing is
 *   served stale.
 */
export class LookupCache<T extends {}> {
  readonly #options: LookupCacheOptions
  readonly #entries: LRUCache<string, Entry<T>>
  readonly #pending = new Map<string, Promise<T | null>>()
  /** Bumped by every delete and clear. */
  #generation = 0
  readonly #suspension = new Suspension(() => { this.clear() })
  #hits = 0
  #misses = 0

  constructor (options: LookupCacheOptions) {
    this.#options = options
    const { dispose } = options
    this.#entries = new LRUCache<string, Entry<T>>({
      max: options.max,
      ttl: options.ttlMs + options.staleIfErrorMs,
      // Not when an entry is replaced by a fresher copy of itself: the key stays cached.
      ...(dispose === undefined
        ? {}
        : { dispose: (entry: Entry<T>, key: string, reason: string) => { if (reason !== 'set') dispose(entry.value === MISSING ? null : entry.value, key) } })
    })
  }

  /**
   * The cached value for key, or what load() finds.
   * @param deadline performance.now() by which the store must have answered
   * @throws StoreUnavailableError when the store fails and nothing may be served instead
   */
  async get (key: string, load: () => Promise<T | null>, deadline: number): Promise<T | null> {
    const entry = this.#entries.get(key)
    const now = performance.now()
    if (entry !== undefined && now < entry.freshUntil) {
      this.#hits++
      return entry.value === MISSING ? null : entry.value
    }
    this.#misses++
    try {
      return await this.#load(key, load, deadline)
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error
      // Looked up again: a notification may have dropped it meanwhile.
      const stale = this.#entries.get(key)
      if (stale === undefined || stale.value === MISSING || performance.now() >= stale.freshUntil + this.#options.staleIfErrorMs) throw error
      this.#options.onStale?.()
      return stale.value
    }
  }

  /** The value if cached and fresh (null: "not found"); undefined otherwise. Synchronous: the hot path. */
  fresh (key: string): T | null | undefined {
    const entry = this.#entries.get(key)
    // A miss is counted by the get() that follows.
    if (entry === undefined || performance.now() >= entry.freshUntil) return undefined
    this.#hits++
    return entry.value === MISSING ? null : entry.value
  }

  /** The cached value, fresh or stale, without asking the store. */
  peek (key: string): T | null | undefined {
    const entry = this.#entries.get(key)
    return entry === undefined ? undefined : entry.value === MISSING ? null : entry.value
  }

  /** Bumped by every delete and clear: pass it to `offer` for a value read elsewhere. */
  get generation (): number {
    return this.#generation
  }

  /**
   * Caches a found value that another lookup read in passing (an account
   * fetched with its key), unless a delete or clear since `generation` (taken
   * before that read began) may have made it stale.
   */
  offer (key: string, value: T, generation: number): void {
    this.#remember(key, value, generation)
  }

  delete (key: string): void {
    this.#generation++
    this.#entries.delete(key)
  }

  /** Deletes every entry for which drop(value, key) holds. */
  deleteWhere (drop: (value: T | null, key: string) => boolean): void {
    this.#generation++
    for (const [key, entry] of this.#entries.entries()) {
      if (drop(entry.value === MISSING ? null : entry.value, key)) this.#entries.delete(key)
    }
  }

  clear (): void {
    this.#generation++
    this.#entries.clear()
  }

  /** Drops everything and keeps nothing until `resume`. */
  suspend (): void {
    this.#suspension.suspend()
  }

  /** Caches again, from empty (what was read while suspended may predate a change never heard). */
  resume (): void {
    this.#suspension.resume()
  }

  get size (): number {
    return this.#entries.size
  }

  stats (): CacheStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size }
  }

  async #load (key: string, load: () => Promise<T | null>, deadline: number): Promise<T | null> {
    let pending = this.#pending.get(key)
    if (pending === undefined) {
      if (this.#pending.size >= this.#options.maxPending) {
        throw new StoreUnavailableError(`store unavailable: ${this.#pending.size} lookups already wait for it`)
      }
      pending = this.#query(key, load)
      this.#pending.set(key, pending)
    }
    return await withDeadline(pending, deadline)
  }

  async #query (key: string, load: () => Promise<T | null>): Promise<T | null> {
    const generation = this.#generation
    try {
      const value = await load()
      if (!this.#remember(key, value, generation)) this.#options.dispose?.(value, key)
      return value
    } finally {
      this.#pending.delete(key)
    }
  }

  #remember (key: string, value: T | null, generation: number): boolean {
    if (generation !== this.#generation || this.#suspension.suspended) return false
    const ttl = value === null ? this.#options.negativeTtlMs : this.#options.ttlMs + this.#options.staleIfErrorMs
    const freshFor = value === null ? this.#options.negativeTtlMs : this.#options.ttlMs
    this.#entries.set(key, { value: value ?? MISSING, freshUntil: performance.now() + freshFor }, { ttl })
    return true
  }
}

/** The promise's outcome, or a StoreUnavailableError once performance.now() reaches deadline. */
export async function withDeadline<T> (promise: Promise<T>, deadline: number): Promise<T> {
  const remaining = deadline - performance.now()
  if (remaining <= 0) {
    // Already late: take an answer that is there, else give up.
    promise.catch(() => {})
    throw new StoreUnavailableError('store unavailable: no answer before the decision deadline')
  }
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new StoreUnavailableError(`store unavailable: no answer within ${Math.round(remaining)} ms (the decision deadline)`))
    }, remaining)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
