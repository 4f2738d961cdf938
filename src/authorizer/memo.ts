import { credentialHeaderValues } from '../credentials/parse.js'
import type { PolicyEngine } from '../policy/engine.js'
import type { CacheStats } from '../principal/lib/lookup-cache.js'
import { deepFreeze } from '../lib/freeze.js'
import { expiresWithinSecond, SecondCache } from '../lib/second-cache.js'
import { Suspension } from '../lib/suspension.js'
import type { PolicyInput } from '../policy/input.js'
import type { AuthorizationResult, AuthorizeRequest } from './result.js'

export interface Memo {
  result: AuthorizationResult
  input: PolicyInput
}

/**
 * The decisions of the current second, keyed on what a decision is made from
 * in the request itself: its Authorization and X-RunAs-* header values, method,
 * path and scheme. A request repeated within the second is answered without
 * parsing, hashing, resolving or evaluating again — the steady state of a
 * forward-auth endpoint, where one credential makes many requests.
 *
 * Sound for the same reasons as the policy's decision cache: everything else
 * the decision reads is the store's facts, and any change to those empties
 * the memo (`clear()`, called on every invalidation, as the caches are), as
 * does the second changing; the limits' `exhausted` and `resetAt` are read
 * again at every hit (`holds`), which then counts as a request; a decision whose credential expires within its
 * second is never kept. A lookup that raced with a `clear()` keeps nothing
 * (see `generation`). Holds at most `size` entries, oldest evicted first.
 *
 * The keys hold the credentials as presented: they live in memory for at
 * most a second, as the requests that carried them do.
 */
export class DecisionMemo {
  readonly #cache: SecondCache<Memo>
  #policy: PolicyEngine | null = null
  #generation = 0
  readonly #suspension = new Suspension(() => { this.clear() })
  #hits = 0
  #misses = 0

  constructor (size: number) {
    this.#cache = new SecondCache(size)
  }

  /** Bumped by every `clear()`: a decision begun before it must not be kept. */
  get generation (): number {
    return this.#generation
  }

  /** The memo key of a request, or null when the memo is off. */
  keyOf (request: AuthorizeRequest): string | null {
    // A console session is looked up at every request (its idle timeout moves): never remembered.
    if (!this.#cache.enabled || request.console !== undefined) return null
    return `${request.scheme ?? 'http'} ${request.method} ${request.path.length}:${request.path}${credentialHeaderValues(request.headers)}`
  }

  /** `holds`: whether the entry still stands (its limits, counted outside, may have been used up since). */
  get (key: string, policy: PolicyEngine, now: number, holds: (memo: Memo) => boolean): Memo | undefined {
    let memo = policy === this.#policy ? this.#cache.get(key, now) : undefined
    if (memo !== undefined && !holds(memo)) memo = undefined
    if (memo === undefined) this.#misses++
    else this.#hits++
    return memo
  }

  stats (): CacheStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#cache.size }
  }

  /** Keeps a decision made from `input` (begun at `generation`), unless it could change within its second. */
  set (key: string, policy: PolicyEngine, generation: number, memo: Memo): void {
    if (generation !== this.#generation || this.#suspension.suspended || memo.result.status === 503) return
    if (expiresWithinSecond(memo.input.credential.expiresAt, memo.input.now)) return
    if (policy !== this.#policy) {
      this.#cache.clear()
      this.#policy = policy
    }
    // The input is shared by every record the memo answers.
    deepFreeze(memo.input)
    this.#cache.set(key, memo, memo.input.now)
  }

  clear (): void {
    this.#generation++
    this.#cache.clear()
  }

  /** Forgets everything and remembers nothing until `resume` (changes may go unheard meanwhile). */
  suspend (): void {
    this.#suspension.suspend()
  }

  resume (): void {
    this.#suspension.resume()
  }
}
