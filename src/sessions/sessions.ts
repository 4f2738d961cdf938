import type { SessionFacts, SessionVerifier } from '../principal/resolve.js'
import type { Page, PageRequest } from '../store/types.js'
import { SessionNotFoundError } from './errors.js'
import { SESSION_ID } from './lib/ids.js'
import { listLiveSessions, revokeSession, SESSIONS_CHANNEL } from './lib/rows.js'
import { SigningKeyring, signingSecretOf, type PublicJwk } from './keyring.js'
import { mintSession, type MintedSession, type MintRequest } from './mint.js'
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from './options.js'
import {
  listSigningKeys, rotateSigningKey, rotateSigningKeyIfOlderThan, SIGNING_KEYS_CHANNEL, type RotationOptions, type SigningKeyInfo
} from './signing-keys.js'
import { SessionTokenVerifier, type SessionCheck } from './verify.js'

/** A session as listings show it. */
export interface SessionInfo {
  id: string
  userId: string
  /** null: every route. */
  allowedRoutes: string[] | null
  createdAt: Date
  expiresAt: Date
}

/**
 * Session tokens: minting, verification (pass this object to
 * `createAuthorizer({ sessions })`), ending, the JWKS and signing-key rotation.
 * Without `secret` it verifies only (what `createAuthorizer` makes by default).
 * Call `listen()` to hear about sessions ended and keys rotated by other
 * instances, and `close()` when done.
 */
export class Sessions implements SessionVerifier {
  readonly #options: ResolvedSessionOptions
  readonly #keyring: SigningKeyring
  readonly #verifier: SessionTokenVerifier
  readonly #invalidationListeners = new Set<() => void>()
  #unlisten: Array<() => Promise<void>> = []
  #rotationTimer: NodeJS.Timeout | null = null

  constructor (options: SessionOptions) {
    this.#options = resolveSessionOptions(options)
    this.#keyring = new SigningKeyring(this.#options)
    this.#verifier = new SessionTokenVerifier(this.#options, this.#keyring)
  }

  /** Records a session for `userId` and returns its token; the first call makes the first signing key. */
  async mint (request: MintRequest): Promise<MintedSession> {
    return await mintSession(this.#options, this.#keyring, request)
  }

  async verify (token: string): Promise<SessionFacts | null> {
    return await this.#verifier.verify(token)
  }

  /** `verify` with the reason for a refusal; for logs and tests. */
  async check (token: string): Promise<SessionCheck> {
    return await this.#verifier.check(token)
  }

  /** Ends a session of `userId` at once, on every instance; SessionNotFoundError when the user has no such session. */
  async end (sessionId: string, userId: string): Promise<void> {
    if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId) ||
      !await revokeSession(this.#options.db, sessionId, userId, new Date(this.#options.clock()))) {
      throw new SessionNotFoundError('no such session')
    }
    this.forgetSession(sessionId)
  }

  /** The sessions of `userId` that still work (neither ended nor expired), in creation order; never their tokens. */
  async list (userId: string, page: PageRequest = {}): Promise<Page<SessionInfo>> {
    const rows = await listLiveSessions(this.#options.db, userId, page, new Date(this.#options.clock()))
    return {
      nextCursor: rows.nextCursor,
      items: rows.items.map((row) => ({ id: row.id, userId: row.user_id, allowedRoutes: row.allowed_routes, createdAt: row.created_at, expiresAt: row.expires_at }))
    }
  }

  /** Drops a session from this instance's verified-token cache. */
  forgetSession (sessionId: string): void {
    this.#verifier.forget(sessionId)
    this.#invalidated()
  }

  /** See SessionVerifier.onInvalidate: the authorizer drops what it decided from tokens. */
  onInvalidate (listener: () => void): () => void {
    this.#invalidationListeners.add(listener)
    return () => { this.#invalidationListeners.delete(listener) }
  }

  /** The public keys that verify tokens now (`/.well-known/jwks.json`): `kid`, `kty`, `crv`, `x`, `alg`, `use` only. */
  async jwks (): Promise<{ keys: PublicJwk[] }> {
    return await this.#keyring.jwks()
  }

  /** A new active key; the old one verifies (and stays published) until its last possible token has expired. */
  async rotate (): Promise<SigningKeyInfo> {
    const key = await rotateSigningKey(this.#options.db, this.#rotation())
    this.#signingKeysChanged()
    return key
  }

  /** For schedules (a timer, cron): rotates when the active key is older than `maxAgeSeconds`; null when it is not. */
  async rotateIfOlderThan (maxAgeSeconds: number): Promise<SigningKeyInfo | null> {
    const key = await rotateSigningKeyIfOlderThan(this.#options.db, maxAgeSeconds, this.#rotation())
    if (key !== null) this.#signingKeysChanged()
    return key
  }

  /**
   * Scheduled rotation: checks now and every `checkEveryMs` (default 1 h) and rotates when the
   * active key is older than `maxAgeSeconds`. Safe on every instance at once (the store
   * serializes rotations). Failures go to `onError` (default: a process warning); `close()` stops it.
   */
  scheduleRotation (maxAgeSeconds: number, options: { checkEveryMs?: number, onError?: (error: Error) => void } = {}): void {
    if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 1) throw new TypeError('scheduleRotation: maxAgeSeconds must be a positive integer')
    const { checkEveryMs = 3_600_000, onError = (error: Error) => { process.emitWarning(error) } } = options
    if (!Number.isInteger(checkEveryMs) || checkEveryMs < 1000) throw new TypeError('scheduleRotation: checkEveryMs must be an integer of at least 1000')
    if (this.#rotationTimer !== null) throw new TypeError('scheduleRotation: already scheduled')
    const check = (): void => {
      this.rotateIfOlderThan(maxAgeSeconds).catch((error: unknown) => { onError(error instanceof Error ? error : new Error(String(error))) })
    }
    this.#rotationTimer = setInterval(check, checkEveryMs).unref()
    check()
  }

  async listSigningKeys (): Promise<SigningKeyInfo[]> {
    return await listSigningKeys(this.#options.db, this.#options.clock())
  }

  /**
   * Subscribes to notifications: sessions ended and keys rotated elsewhere take effect here at once.
   * While the listening connection is lost, no verified token is cached (every token is looked
   * up); when it is back, the cache starts from empty and the key set is re-read.
   */
  async listen (): Promise<void> {
    if (this.#unlisten.length > 0) return
    const { db } = this.#options
    const onReconnect = (): void => {
      this.#verifier.resume()
      this.#signingKeysChanged()
    }
    const onLost = (): void => { this.#verifier.suspend() }
    this.#unlisten = [
      await db.listen(SESSIONS_CHANNEL, (sessionId) => { this.forgetSession(sessionId) }, { onReconnect, onLost }),
      await db.listen(SIGNING_KEYS_CHANNEL, () => { this.#signingKeysChanged() })
    ]
  }

  #rotation (): RotationOptions {
    return { ...this.#options, secret: signingSecretOf(this.#options), now: this.#options.clock() }
  }

  #signingKeysChanged (): void {
    this.#keyring.invalidate()
    this.#invalidated()
  }

  #invalidated (): void {
    for (const listener of this.#invalidationListeners) {
      try {
        listener()
      } catch {
        // A listener must not stop the others.
      }
    }
  }

  /** Stops listening and the rotation schedule; the database stays open (it belongs to the caller). */
  async close (): Promise<void> {
    if (this.#rotationTimer !== null) clearInterval(this.#rotationTimer)
    this.#rotationTimer = null
    const unlisten = this.#unlisten
    this.#unlisten = []
    await Promise.all(unlisten.map(async (stop) => { await stop() }))
  }
}
