/**
 * The suspend/resume rule of a cache whose invalidations come as
 * notifications: while suspended (they cannot be heard) it keeps nothing, and
 * both `suspend` and `resume` empty it (what was read meanwhile may predate a
 * change never heard).
 */
export class Suspension {
  readonly #clear: () => void
  #suspended = false

  /** `clear`: empties the cache. */
  constructor (clear: () => void) {
    this.#clear = clear
  }

  get suspended (): boolean {
    return this.#suspended
  }

  suspend (): void {
    this.#suspended = true
    this.#clear()
  }

  resume (): void {
    this.#suspended = false
    this.#clear()
  }
}
