/** A SecondCache keeps answers within one whole second of the clock it is given. */
export const SECOND_MS = 1000

/**
 * Answers of the current second only: a bounded map, oldest evicted first,
 * that forgets everything once it is used in another second. For answers
 * that hold until the facts behind them change (the owner then calls
 * `clear()`) or the second ends — never past an expiry within it (see
 * `expiresWithinSecond`). Size 0: keeps nothing.
 */
export class SecondCache<V> {
  readonly #entries = new Map<string, V>()
  readonly #ring: Array<string | undefined>
  #next = 0
  #second = NaN

  constructor (size: number) {
    this.#ring = new Array<string | undefined>(size).fill(undefined)
  }

  get enabled (): boolean {
    return this.#ring.length > 0
  }

  get size (): number {
    return this.#entries.size
  }

  /** What was kept for `key` in the second of `now` (epoch ms). */
  get (key: string, now: number): V | undefined {
    return Math.floor(now / SECOND_MS) === this.#second ? this.#entries.get(key) : undefined
  }

  set (key: string, value: V, now: number): void {
    if (this.#ring.length === 0) return
    const second = Math.floor(now / SECOND_MS)
    if (second !== this.#second) {
      // Entries of another second can never be hit again (unless a clock goes back): drop them now.
      this.clear()
      this.#second = second
    }
    const evicted = this.#ring[this.#next]
    if (evicted !== undefined) this.#entries.delete(evicted)
    this.#ring[this.#next] = key
    this.#next = (this.#next + 1) % this.#ring.length
    this.#entries.set(key, value)
  }

  clear (): void {
    this.#entries.clear()
    this.#ring.fill(undefined)
  }
}

/** True when `expiresAt` falls after the start of the second of `now` and within it: an answer made in that second may not hold to its end. */
export function expiresWithinSecond (expiresAt: unknown, now: number): boolean {
  const start = Math.floor(now / SECOND_MS) * SECOND_MS
  return typeof expiresAt === 'number' && expiresAt > start && expiresAt < start + SECOND_MS
}
