import { LRUCache } from 'lru-cache'

/** At most `failures` failed authentications within `windowSeconds`. */
export interface ThrottleRule {
  failures: number
  windowSeconds: number
}

export interface ThrottleOptions {
  /** Per client address; null: not throttled by address. */
  client: ThrottleRule | null
  /** Per presented key prefix (the non-secret display prefix of a well-formed key); null: not throttled by prefix. */
  prefix: ThrottleRule | null
  /** Addresses and prefixes counted at once (bounded memory; the least recent is forgotten). */
  tracked: number
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  client: { failures: 50, windowSeconds: 60 },
  prefix: { failures: 20, windowSeconds: 60 },
  tracked: 10_000
}

/** Why a request was throttled, for the 429, the decision log and the security event. */
export interface Throttled {
  by: 'client' | 'prefix'
  /** The address or prefix counted (never a secret). */
  value: string
  rule: ThrottleRule
  /** Whole seconds until the window ends (at least 1). */
  retryAfterSeconds: number
  /** The first request refused in this window: the one the security event is recorded for. */
  first: boolean
}

interface Window {
  start: number
  failures: number
  refused: boolean
}

/**
 * Counts failed authentications (401s) per client address and per presented
 * key prefix, in fixed windows that start at the first failure. Once a
 * window holds `failures` of them, every request from that address or with
 * that prefix is refused until the window ends, whatever it presents, before
 * anything is looked up: the answer cannot tell a valid key from a random
 * one, and a throttled flood costs no store query. Refused requests are not
 * counted, so the throttle releases when the window ends.
 */
export class FailureThrottle {
  readonly #options: ThrottleOptions
  readonly #windows: LRUCache<string, Window>

  constructor (options: ThrottleOptions) {
    this.#options = options
    this.#windows = new LRUCache({ max: options.tracked })
  }

  /** Non-null when the request must be refused now. */
  check (client: string | null, prefix: string | null, now: number): Throttled | null {
    return this.#check('client', client, now) ?? this.#check('prefix', prefix, now)
  }

  /** Counts one failed authentication. */
  failed (client: string | null, prefix: string | null, now: number): void {
    this.#count('client', client, now)
    this.#count('prefix', prefix, now)
  }

  #check (by: 'client' | 'prefix', value: string | null, now: number): Throttled | null {
    const rule = this.#options[by]
    if (rule === null || value === null) return null
    const window = this.#windows.get(`${by}:${value}`)
    const end = window === undefined ? 0 : window.start + rule.windowSeconds * 1000
    if (window === undefined || now >= end || window.failures < rule.failures) return null
    const first = !window.refused
    window.refused = true
    return { by, value, rule, retryAfterSeconds: Math.max(1, Math.ceil((end - now) / 1000)), first }
  }

  #count (by: 'client' | 'prefix', value: string | null, now: number): void {
    const rule = this.#options[by]
    if (rule === null || value === null) return
    const key = `${by}:${value}`
    let window = this.#windows.get(key)
    if (window === undefined || now >= window.start + rule.windowSeconds * 1000) {
      window = { start: now, failures: 0, refused: false }
      this.#windows.set(key, window)
    }
    window.failures++
  }
}
