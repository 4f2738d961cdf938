import { LRUCache } from 'lru-cache'

/**
 * The limits set on a key or an account: a rate (requests per window of
 * seconds, counted in fixed windows aligned on the epoch) and a quota
 * (requests per calendar day or month, UTC).
 */
export interface Limits {
  rate?: { limit: number; windowSeconds: number }
  quota?: { limit: number; period: QuotaPeriod }
}

export type QuotaPeriod = 'day' | 'month'
export const MAX_RATE_WINDOW_SECONDS = 3600
const MAX_LIMIT = 1_000_000_000

/**
 * One limit of one key or account as the policy sees it: what it allows, and
 * whether the current window has used it up. No raw count: the input stays the
 * same from request to request until a limit is used up or its window ends,
 * so the decision memo and the policy's decision cache can answer it.
 */
export interface LimitFacts {
  /** e.g. `key:rate`, `account:quota`: also the name in the RateLimit headers. */
  name: string
  scope: 'key' | 'account'
  /** The key or account id. */
  id: string
  kind: 'rate' | 'quota'
  limit: number
  windowSeconds: number
  /** The current window has admitted `limit` requests already. */
  exhausted: boolean
  /** When the current window ends, epoch ms. */
  resetAt: number
}

/** Checks untrusted input (API bodies, CLI flags); throws a TypeError-free Error with a safe message. */
export function validateLimits (value: unknown): Limits | null {
  if (value === null) return null
  if (typeof value !== 'object' || Array.isArray(value)) throw new LimitsError('limits must be an object with rate and/or quota, or null')
  const { rate, quota, ...rest } = value as Record<string, unknown>
  if (Object.keys(rest).length > 0) throw new LimitsError(`limits: unknown field ${JSON.stringify(Object.keys(rest)[0])}`)
  const limits: Limits = {}
  if (rate !== undefined && rate !== null) {
    const { limit, windowSeconds, ...more } = rate as Record<string, unknown>
    if (typeof rate !== 'object' || Object.keys(more).length > 0 || !count(limit) || !Number.isInteger(windowSeconds) || (windowSeconds as number) < 1 || (windowSeconds as number) > MAX_RATE_WINDOW_SECONDS) {
      throw new LimitsError(`limits.rate must be {limit, windowSeconds}: whole numbers, windowSeconds from 1 to ${MAX_RATE_WINDOW_SECONDS}`)
    }
    limits.rate = { limit: limit as number, windowSeconds: windowSeconds as number }
  }
  if (quota !== undefined && quota !== null) {
    const { limit, period, ...more } = quota as Record<string, unknown>
    if (typeof quota !== 'object' || Object.keys(more).length > 0 || !count(limit) || (period !== 'day' && period !== 'month')) {
      throw new LimitsError('limits.quota must be {limit, period}: a whole number, and "day" or "month"')
    }
    limits.quota = { limit: limit as number, period }
  }
  return limits.rate === undefined && limits.quota === undefined ? null : limits
}

export class LimitsError extends Error {
  override name = 'LimitsError'
}

function count (value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_LIMIT
}

/**
 * Whether `child` stays within `cap` (a parent's own limits): a rate no
 * faster per second, a quota no larger over the same period. Null when it
 * does, else what exceeds. `required`: a limit the cap has, the child must
 * have too (a child account, whose requests the parent's counters do not
 * see); a key needs none of its own, its account's limits count it anyway.
 */
export function exceedsCap (child: Limits | null, cap: Limits | null, required = true): string | null {
  if (cap === null) return null
  if (cap.rate !== undefined) {
    if (child?.rate === undefined) {
      if (required) return 'a rate is required: the parent has one'
    } else if (child.rate.limit / child.rate.windowSeconds > cap.rate.limit / cap.rate.windowSeconds) return 'the rate exceeds the parent\'s'
  }
  if (cap.quota !== undefined) {
    const perDay = (q: NonNullable<Limits['quota']>): number => q.period === 'day' ? q.limit : q.limit / 28
    if (child?.quota === undefined) {
      if (required) return 'a quota is required: the parent has one'
    } else if (child.quota.period === cap.quota.period ? child.quota.limit > cap.quota.limit : perDay(child.quota) > perDay(cap.quota)) return 'the quota exceeds the parent\'s'
  }
  return null
}

/** [start, end) of the window holding `now`, epoch ms. */
export function windowOf (kind: 'rate' | 'quota', size: number | QuotaPeriod, now: number): [number, number] {
  if (kind === 'rate') {
    const ms = (size as number) * 1000
    const start = now - (now % ms)
    return [start, start + ms]
  }
  const d = new Date(now)
  if (size === 'day') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    return [start, start + 86_400_000]
  }
  return [Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)]
}

interface Subject {
  scope: 'key' | 'account'
  id: string
  limits: Limits | null
}

/**
 * Counts admitted requests per key and account limit, in memory (bounded:
 * the least recently used counters are forgotten, which only ever admits
 * more). `facts()` reads the counts for the policy input; `counters()` hands
 * out the counters themselves, to check facts made earlier (a remembered
 * decision's, `unchanged()`) and `admit()` counts a request the policy
 * allowed. Read and counted synchronously, so that no other decision comes
 * between.
 *
 * Instances on one store share the counts through it (LimitSync): every
 * counter read since the last sync is sent with what this instance admitted
 * meanwhile (`unsent()`), and the store's total for its window, which holds
 * every instance's, becomes this instance's view (`settle()`). Nothing here
 * waits for the store: between syncs, a view misses what the other instances
 * admitted since their last sync (see docs/rate-limits.md for the bound).
 */
export class LimitCounters {
  readonly #counts: LRUCache<string, LimitCounter>
  /** The counters each set of facts (a decision's, then its memo's) was counted on, while their windows last. */
  readonly #held = new WeakMap<readonly LimitFacts[], LimitCounter[]>()
  /** Read since the last `unsent()`. */
  #touched: LimitCounter[] = []

  constructor (max = 100_000) {
    this.#counts = new LRUCache({ max })
  }

  facts (subjects: Subject[], now: number): LimitFacts[] {
    const facts: LimitFacts[] = []
    for (const { scope, id, limits } of subjects) {
      if (limits === null) continue
      if (limits.rate !== undefined) facts.push(this.#fact({ scope, id, kind: 'rate', limit: limits.rate.limit, windowSeconds: limits.rate.windowSeconds }, now))
      // A month's length varies: the policy and the headers see the period as 86400 (day) or 2592000 (month) seconds.
      if (limits.quota !== undefined) facts.push(this.#fact({ scope, id, kind: 'quota', limit: limits.quota.limit, windowSeconds: limits.quota.period === 'day' ? 86_400 : 2_592_000 }, now))
    }
    return facts
  }

  /** The counters of `facts`' current windows, in their order: read them, check them, count on them. */
  counters (facts: readonly LimitFacts[], now: number): LimitCounter[] {
    let counters = this.#held.get(facts)
    if (counters === undefined || anyEnded(counters, now)) {
      counters = facts.map((fact) => this.#counter(counterKey(fact), fact.resetAt, now))
      this.#held.set(facts, counters)
    }
    for (const counter of counters) this.#touch(counter)
    return counters
  }

  /** Counts one admitted request on each of `counters`. */
  admit (counters: readonly LimitCounter[]): void {
    for (const counter of counters) {
      counter.used++
      counter.unsent++
    }
  }

  /** For a sync: every counter read since the last one, with what it admitted here since; taken as sent. */
  unsent (): Sent[] {
    const touched = this.#touched
    this.#touched = []
    return touched.map((counter) => {
      const sent = { counter, delta: counter.unsent }
      counter.unsent = 0
      counter.touched = false
      return sent
    })
  }

  /** The store's totals for what `unsent()` gave, in its order: each with what was admitted here since is the view now. */
  settle (sent: readonly Sent[], totals: readonly number[]): void {
    sent.forEach(({ counter }, i) => {
      const total = totals[i]
      if (total !== undefined) counter.used = Math.max(counter.used, total + counter.unsent)
    })
  }

  /** A sync that failed: what it sent is unsent again, for the next one. */
  unsend (sent: readonly Sent[]): void {
    for (const { counter, delta } of sent) {
      counter.unsent += delta
      this.#touch(counter)
    }
  }

  /** Counts kept by the store (at start: from before a restart, and other instances'), for windows not ended at `now`. */
  load (rows: readonly CounterRow[], now: number): void {
    for (const { counter: key, windowEnd, used } of rows) {
      if (windowEnd <= now) continue
      const counter = this.#counter(key, windowEnd, now)
      if (counter.windowEnd === windowEnd) counter.used = Math.max(counter.used, used + counter.unsent)
    }
  }

  /** The counter of `key` in the window ending at `windowEnd`, made (at 0) when there is none yet or the one kept has ended. */
  #counter (key: string, windowEnd: number, now: number): LimitCounter {
    let counter = this.#counts.get(key)
    if (counter === undefined || now >= counter.windowEnd) this.#counts.set(key, counter = { key, windowEnd, used: 0, unsent: 0, touched: false })
    return counter
  }

  #touch (counter: LimitCounter): void {
    if (counter.touched) return
    counter.touched = true
    this.#touched.push(counter)
  }

  /** Requests admitted in the current window of `fact`. */
  #used (fact: LimitFacts, now: number): number {
    const counted = this.#counts.get(counterKey(fact))
    return counted !== undefined && now < counted.windowEnd ? counted.used : 0
  }

  #fact (def: Pick<LimitFacts, 'scope' | 'id' | 'kind' | 'limit' | 'windowSeconds'>, now: number): LimitFacts {
    const { scope, id, kind, limit, windowSeconds } = def
    const fact: LimitFacts = { name: `${scope}:${kind}`, scope, id, kind, limit, windowSeconds, exhausted: false, resetAt: windowOfFact(def, now)[1] }
    fact.exhausted = this.#used(fact, now) >= limit
    return fact
  }
}

/** Requests admitted in one limit's window, ending at `windowEnd` (epoch ms). */
export interface LimitCounter {
  /** The limit's name in the store, e.g. `key:key_…:rate:1`. */
  readonly key: string
  readonly windowEnd: number
  /** Admitted in the window as this instance knows it: the store's total at the last sync, and what it admitted since. */
  used: number
  /** Admitted here and not sent to the store yet. */
  unsent: number
  /** Read since the last sync: the next one sends it (with a delta of 0, to learn the total). */
  touched: boolean
}

/** A counter as the store keeps it. */
export interface CounterRow {
  counter: string
  /** Epoch ms. */
  windowEnd: number
  used: number
}

export interface Sent {
  counter: LimitCounter
  delta: number
}

/**
 * Whether `facts`, read earlier within the second, would read the same with
 * `counters` (theirs, now): no limit used up since. (Windows end on whole
 * seconds, which a per-second memo never crosses.)
 */
export function unchanged (facts: readonly LimitFacts[], counters: readonly LimitCounter[]): boolean {
  for (let i = 0; i < facts.length; i++) {
    const fact = facts[i] as LimitFacts
    if (((counters[i]?.used ?? 0) >= fact.limit) !== fact.exhausted) return false
  }
  return true
}

/** A loop, not `some()`: no closure made on every memo hit. */
function anyEnded (counters: readonly LimitCounter[], now: number): boolean {
  for (const counter of counters) if (now >= counter.windowEnd) return true
  return false
}

function windowOfFact (fact: Pick<LimitFacts, 'kind' | 'windowSeconds'>, now: number): [number, number] {
  return fact.kind === 'rate' ? windowOf('rate', fact.windowSeconds, now) : windowOf('quota', fact.windowSeconds === 86_400 ? 'day' : 'month', now)
}

function counterKey (fact: Pick<LimitFacts, 'scope' | 'id' | 'kind' | 'windowSeconds'>): string {
  return `${fact.scope}:${fact.id}:${fact.kind}:${fact.windowSeconds}`
}

/** Whole seconds from `now` until `fact`'s window ends, at least 1. */
export function resetSeconds (fact: LimitFacts, now: number): number {
  return Math.max(1, Math.ceil((fact.resetAt - now) / 1000))
}

// RateLimit-Policy, and the items' names, depend on the limits alone: made once per set of facts (a remembered decision's serves many requests).
const fields = new WeakMap<readonly LimitFacts[], { policy: string; items: string[] }>()

/**
 * The IETF RateLimit-Policy and RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers): one item per limit, e.g.
 * `"key:rate";q=100;w=1` and `"key:rate";r=57;t=1`. `counters[i]`: what
 * `facts[i]`'s window has admitted; `uncounted`: 1 for an allowed request
 * not counted on them (explained, not made), else 0. Null without limits.
 */
export function rateLimitHeaders (facts: readonly LimitFacts[], counters: readonly LimitCounter[], uncounted: number, now: number): { policy: string; state: string } | null {
  if (facts.length === 0) return null
  let made = fields.get(facts)
  if (made === undefined) {
    made = { policy: facts.map((f) => `"${f.name}";q=${f.limit};w=${f.windowSeconds}`).join(', '), items: facts.map((f, i) => `${i === 0 ? '' : ', '}"${f.name}";r=`) }
    fields.set(facts, made)
  }
  let state = ''
  for (let i = 0; i < facts.length; i++) {
    const f = facts[i] as LimitFacts
    state += made.items[i] + String(Math.max(0, f.limit - (counters[i]?.used ?? 0) - uncounted)) + ';t=' + String(resetSeconds(f, now))
  }
  return { policy: made.policy, state }
}

/** Limits from their short text forms, `RATE` = `100/1` (requests per seconds) and `QUOTA` = `10000/month` (or `/day`), as the CLI takes them. */
export function limitsFromText (rate: string | undefined, quota: string | undefined): Limits | null {
  const limits: Record<string, unknown> = {}
  if (rate !== undefined) {
    const match = /^(\d{1,10})\/(\d{1,5})$/.exec(rate)
    if (match === null) throw new LimitsError(`rate ${JSON.stringify(rate)}: expected REQUESTS/SECONDS, e.g. 100/1`)
    limits.rate = { limit: Number(match[1]), windowSeconds: Number(match[2]) }
  }
  if (quota !== undefined) {
    const match = /^(\d{1,10})\/(day|month)$/.exec(quota)
    if (match === null) throw new LimitsError(`quota ${JSON.stringify(quota)}: expected REQUESTS/day or REQUESTS/month, e.g. 10000/month`)
    limits.quota = { limit: Number(match[1]), period: match[2] }
  }
  return validateLimits(limits)
}

/** Limits in the short text forms limitsFromText takes, e.g. `rate 100/1, quota 10000/month`; empty for none. */
export function limitsText (limits: Limits | null): string {
  const parts: string[] = []
  if (limits?.rate !== undefined) parts.push(`rate ${limits.rate.limit}/${limits.rate.windowSeconds}`)
  if (limits?.quota !== undefined) parts.push(`quota ${limits.quota.limit}/${limits.quota.period}`)
  return parts.join(', ')
}
