import * as crypto from 'node:crypto'
import { createHash } from 'node:crypto'
import { errors, jwtVerify, type JWTPayload } from 'jose'
import { LRUCache } from 'lru-cache'
import { Suspension } from '../lib/suspension.js'
import type { SessionFacts, SessionVerifier } from '../principal/resolve.js'
import { SESSION_ID } from './lib/ids.js'
import { inspectToken, type TokenRejection } from './lib/inspect.js'
import { findSession } from './lib/rows.js'
import type { SigningKeyring } from './keyring.js'
import { SESSION_TOKEN_TYPE, type ResolvedSessionOptions } from './options.js'

export type { TokenRejection } from './lib/inspect.js'

/**
 * The outcome of checking a token. `ok` means it is authentic, current and
 * names a recorded session, which may have been ended (`session.revoked`).
 */
export type SessionCheck =
  | { ok: true, session: SessionFacts }
  | { ok: false, reason: TokenRejection }

interface SessionClaims {
  sub: string
  jti: string
  exp: number
  /** RFC 8693 `act.sub`; null without `act`. */
  actorId: string | null
}

const MAX_SUBJECT_LENGTH = 64

/**
 * Verifies session tokens per RFC 8725: shape, length and header checked
 * before any crypto; only EdDSA and Keygate's own keys; issuer, audience,
 * type, expiry, age and clock tolerance checked by jose; then the session row,
 * through a bounded cache keyed by the token's SHA-256 that never serves an
 * entry past the token's `exp`.
 *
 * A bad token is never an exception: `verify` answers null. Only a store
 * fault throws (the authorizer answers 503).
 */
export class SessionTokenVerifier implements SessionVerifier {
  readonly #options: ResolvedSessionOptions
  readonly #keyring: SigningKeyring
  readonly #cache: LRUCache<string, SessionFacts>
  readonly #cacheKeyById = new Map<string, string>()
  /** Bumped by every `forget`: a lookup that raced with one must not cache what it read. */
  #forgets = 0
  readonly #suspension = new Suspension(() => { this.clear() })

  constructor (options: ResolvedSessionOptions, keyring: SigningKeyring) {
    this.#options = options
    this.#keyring = keyring
    this.#cache = new LRUCache<string, SessionFacts>({
      max: options.cacheMax,
      ttl: options.cacheTtlMs,
      ttlResolution: 0,
      perf: { now: options.clock },
      dispose: (session, cacheKey) => {
        if (this.#cacheKeyById.get(session.id) === cacheKey) this.#cacheKeyById.delete(session.id)
      }
    })
  }

  async verify (token: string): Promise<SessionFacts | null> {
    const result = await this.check(token)
    return result.ok ? result.session : null
  }

  /** Like `verify`, with the reason for a refusal (for logs and tests; never for the client). */
  async check (token: string): Promise<SessionCheck> {
    // A token in the cache passed every check below, as this very string, less than a TTL
    // ago (and before its exp): look there first. Over-long tokens are refused unhashed.
    let cacheKey: string | undefined
    if (typeof token === 'string' && token.length <= this.#options.maxTokenLength) {
      cacheKey = tokenHash(token)
      const cached = this.#cache.get(cacheKey)
      if (cached !== undefined) return { ok: true, session: cached }
    }
    const inspection = inspectToken(token, this.#options.maxTokenLength, SESSION_TOKEN_TYPE)
    if (!inspection.ok) return inspection
    cacheKey ??= tokenHash(token)

    const key = await this.#keyring.verificationKey(inspection.kid)
    if (key === null) return { ok: false, reason: 'kid_unknown' }
    const claims = await this.#verifyClaims(token, key)
    if (!claims.ok) return claims

    const forgets = this.#forgets
    const row = await findSession(this.#options.db, claims.jti)
    if (row === null) return { ok: false, reason: 'session_unknown' }
    const expiresAt = claims.exp * 1000
    if (row.user_id !== claims.sub || row.actor_id !== claims.actorId || row.kid !== inspection.kid || row.expires_at.getTime() !== expiresAt) {
      return { ok: false, reason: 'session_mismatch' }
    }
    const session: SessionFacts = {
      id: row.id, userId: row.user_id, actorId: row.actor_id, expiresAt, issuedAt: row.created_at.getTime(), revoked: row.revoked_at !== null, allowedRoutes: row.allowed_routes
    }
    if (forgets === this.#forgets) this.#remember(cacheKey, session)
    return { ok: true, session }
  }

  /** Drops a session from the verified-token cache (it was ended, here or on another instance). */
  forget (sessionId: string): void {
    this.#forgets++
    const cacheKey = this.#cacheKeyById.get(sessionId)
    if (cacheKey !== undefined) this.#cache.delete(cacheKey)
  }

  /** Drops every verified token (notifications may have been missed). */
  clear (): void {
    this.#forgets++
    this.#cache.clear()
    this.#cacheKeyById.clear()
  }

  /** Drops every verified token and keeps none until `resume`: ended sessions may go unheard meanwhile. */
  suspend (): void {
    this.#suspension.suspend()
  }

  resume (): void {
    this.#suspension.resume()
  }

  #remember (cacheKey: string, session: SessionFacts): void {
    if (this.#suspension.suspended) return
    const ttl = Math.min(this.#options.cacheTtlMs, session.expiresAt - this.#options.clock())
    if (ttl <= 0) return
    this.#cache.set(cacheKey, session, { ttl })
    this.#cacheKeyById.set(session.id, cacheKey)
  }

  /** Signature and claims; anything jose or the claim checks refuse is a rejection, never an exception. */
  async #verifyClaims (token: string, key: CryptoKey): Promise<{ ok: true } & SessionClaims | { ok: false, reason: TokenRejection }> {
    const { issuer, audience, maxDurationSeconds, clockToleranceSeconds, clock } = this.#options
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ['EdDSA'],
        typ: SESSION_TOKEN_TYPE,
        issuer,
        audience,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        maxTokenAge: maxDurationSeconds,
        clockTolerance: clockToleranceSeconds,
        currentDate: new Date(clock())
      }))
    } catch (error) {
      return { ok: false, reason: rejectionOf(error) }
    }
    const { sub, jti, exp, iat, allowedRoutes, act } = payload
    const actorId = actorOf(act)
    const wellFormed = typeof sub === 'string' && sub.length > 0 && sub.length <= MAX_SUBJECT_LENGTH && actorId !== undefined &&
      typeof jti === 'string' && SESSION_ID.test(jti) &&
      Number.isInteger(exp) && Number.isInteger(iat) && (exp as number) > (iat as number) &&
      (exp as number) - (iat as number) <= maxDurationSeconds &&
      (allowedRoutes === undefined || (Array.isArray(allowedRoutes) && allowedRoutes.every((r) => typeof r === 'string')))
    if (!wellFormed) return { ok: false, reason: 'claims_invalid' }
    return { ok: true, sub, jti, exp: exp as number, actorId: actorId as string | null }
  }
}

/**
 * The actor of an RFC 8693 `act` claim as Keygate mints it, `{"sub": id}`:
 * null without the claim, undefined for any other shape (a nested `act`, a
 * chain of actors, is never minted, so never accepted).
 */
function actorOf (act: unknown): string | null | undefined {
  if (act === undefined) return null
  if (typeof act !== 'object' || act === null || Array.isArray(act)) return undefined
  const { sub, ...rest } = act as Record<string, unknown>
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH || Object.keys(rest).length > 0) return undefined
  return sub
}

// crypto.hash (Node 20.12+) hashes in one call, at a third of the cost of createHash().update().digest() on a token.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash

function tokenHash (token: string): string {
  return oneShot === undefined ? createHash('sha256').update(token).digest('base64url') : oneShot('sha256', token, 'base64url')
}

function rejectionOf (error: unknown): TokenRejection {
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature_invalid'
  if (error instanceof errors.JWTExpired) return 'expired'
  // Claim failures, and anything else jose throws on this input: nothing but the token is involved here.
  return 'claims_invalid'
}
