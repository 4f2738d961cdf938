import { LRUCache } from 'lru-cache'
import type { DecisionRecord } from '../authorizer/result.js'
import type { AuditConfig, BurstRule } from './config.js'
import { clientAddress, securityEntry, type SecurityEntry } from './entry.js'

interface Window {
  start: number
  count: number
  reported: boolean
}

/**
 * Watches decisions for what an operator should look at, with bounded memory
 * (every counter is an LRU of at most `tracked` entries, each living one window):
 *
 * - `revoked_key_presented` / `expired_key_presented`: a secret key that was
 *   revoked, or has expired (a rolled key after its grace period), presented
 *   again — a leaked-key signal. One event per presentation, naming the key id.
 * - `unauthenticated_burst`: `threshold` 401s within the window against one
 *   key prefix (a known key that no longer works) or from one client address.
 * - `impersonation_refused_burst`: refused X-RunAs-* requests by one actor or
 *   from one client address.
 * - `authentication_throttled`: a client address or key prefix reached the
 *   failed-authentication throttle (src/limits); once per window, with the first 429.
 * - `credential_over_plain_http`: a credential on a request that reached us
 *   over plain HTTP; recorded once per key (or client) per period.
 *
 * A burst is reported once per window, when the count reaches the threshold.
 */
export class SecurityMonitor {
  readonly #config: AuditConfig['security']
  readonly #unauthenticated: LRUCache<string, Window>
  readonly #impersonation: LRUCache<string, Window>
  readonly #plainHttp: LRUCache<string, true> | null

  constructor (config: AuditConfig['security']) {
    this.#config = config
    this.#unauthenticated = windows(config.tracked, config.unauthenticatedBurst)
    this.#impersonation = windows(config.tracked, config.impersonationBurst)
    this.#plainHttp = config.plainHttpSeconds > 0
      ? new LRUCache({ max: config.tracked, ttl: config.plainHttpSeconds * 1000, ttlAutopurge: false })
      : null
  }

  /** The events this decision raises (usually none). */
  observe (record: DecisionRecord, now = Date.now()): SecurityEntry[] {
    const { result, input } = record
    const events: SecurityEntry[] = []
    const credential = input?.credential
    const client = clientAddress(record)

    if (credential?.type === 'secret_key' && credential.found && result.status === 401) {
      if (credential.revoked === true) {
        events.push(securityEntry(record, {
          event: 'revoked_key_presented', msg: `revoked key ${credential.id ?? '?'} was presented again`, count: 1, windowSeconds: null, group: keyGroup(credential)
        }))
      } else if (typeof credential.expiresAt === 'number' && input !== null && credential.expiresAt <= input.now) {
        events.push(securityEntry(record, {
          event: 'expired_key_presented', msg: `expired (or rolled) key ${credential.id ?? '?'} was presented again`, count: 1, windowSeconds: null, group: keyGroup(credential)
        }))
      }
    }

    const throttled = record.throttled
    if (throttled?.first === true) {
      const { by, value, rule } = throttled
      events.push(securityEntry(record, {
        event: 'authentication_throttled',
        msg: `${rule.failures} failed authentications ${by === 'client' ? 'from' : 'with key prefix'} ${value} within ${rule.windowSeconds} s: answered 429 until the window ends`,
        count: rule.failures,
        windowSeconds: rule.windowSeconds,
        group: by === 'client' ? { client_address: value } : { key_prefix: value }
      }))
    }

    if (result.status === 401) {
      const rule = this.#config.unauthenticatedBurst
      const prefix = credential?.prefix
      if (typeof prefix === 'string') {
        const count = bump(this.#unauthenticated, `prefix:${prefix}`, rule, now)
        if (count !== null) {
          events.push(securityEntry(record, {
            event: 'unauthenticated_burst', msg: `${count} unauthenticated requests with key prefix ${prefix} within ${rule.windowSeconds} s`, count, windowSeconds: rule.windowSeconds, group: { key_prefix: prefix }
          }))
        }
      }
      if (client !== null) {
        const count = bump(this.#unauthenticated, `client:${client}`, rule, now)
        if (count !== null) {
          events.push(securityEntry(record, {
            event: 'unauthenticated_burst', msg: `${count} unauthenticated requests from ${client} within ${rule.windowSeconds} s`, count, windowSeconds: rule.windowSeconds, group: { client_address: client }
          }))
        }
      }
    }

    // Refused impersonation: asked to act as someone, authenticated, and not acting as them.
    if (input !== null && input.runAs.length > 0 && result.status === 403 && result.actor === null) {
      const rule = this.#config.impersonationBurst
      const actor = input.principal?.id
      for (const [key, group] of [
        [actor === undefined ? null : `actor:${actor}`, { actor: actor ?? '' }],
        [client === null ? null : `client:${client}`, { client_address: client ?? '' }]
      ] as Array<[string | null, Record<string, string>]>) {
        if (key === null) continue
        const count = bump(this.#impersonation, key, rule, now)
        if (count !== null) {
          events.push(securityEntry(record, {
            event: 'impersonation_refused_burst',
            msg: `${count} refused impersonations by ${Object.values(group)[0]} within ${rule.windowSeconds} s`,
            count,
            windowSeconds: rule.windowSeconds,
            group
          }))
        }
      }
    }

    if (this.#plainHttp !== null && input !== null && input.request.scheme === 'http' && input.credential.type !== 'none') {
      const key = input.credential.id !== undefined ? `credential:${input.credential.id}` : client !== null ? `client:${client}` : 'unknown'
      if (!this.#plainHttp.has(key)) {
        this.#plainHttp.set(key, true)
        events.push(securityEntry(record, {
          event: 'credential_over_plain_http',
          msg: `a credential was sent over plain HTTP (recorded once per ${this.#config.plainHttpSeconds} s for this ${key.split(':')[0] ?? 'source'})`,
          count: 1,
          windowSeconds: this.#config.plainHttpSeconds,
          group: key.startsWith('credential:') ? { credential_id: input.credential.id ?? '' } : { client_address: client ?? '' }
        }))
      }
    }
    return events
  }
}

function windows (max: number, rule: BurstRule): LRUCache<string, Window> {
  return new LRUCache<string, Window>({ max, ttl: rule.windowSeconds * 1000, ttlAutopurge: false, updateAgeOnGet: false })
}

/** Counts one occurrence; returns the count when it makes the window a burst (once per window). */
function bump (cache: LRUCache<string, Window>, key: string, rule: BurstRule, now: number): number | null {
  let window = cache.get(key)
  if (window === undefined || now - window.start >= rule.windowSeconds * 1000) {
    window = { start: now, count: 0, reported: false }
    cache.set(key, window)
  }
  window.count++
  if (!window.reported && window.count >= rule.threshold) {
    window.reported = true
    return window.count
  }
  return null
}

function keyGroup (credential: { id?: string; prefix?: string }): Record<string, string> {
  return { key_id: credential.id ?? '', key_prefix: credential.prefix ?? '' }
}
