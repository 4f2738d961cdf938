import { hashSecretKeyBase64url } from '../credentials/secret-key.js'
import type { ConsoleCredential, PresentedCredential } from '../credentials/parse.js'
import type { AccountFacts, CredentialFacts } from '../policy/input.js'
import type { KeyRecord, UserRecord } from '../store/types.js'
import type { AccountDirectory, CacheOptions, DirectoryHooks } from './accounts.js'
import { LookupCache, withDeadline, type CacheStats } from './lib/lookup-cache.js'

export interface KeyStore {
  /** The key, its owner and its actor, in one round trip. */
  findKeyByHash(hash: Buffer): Promise<(KeyRecord & { owner: UserRecord | null; actor: UserRecord | null }) | null>
  findKeyById(id: string): Promise<KeyRecord | null>
}

/** Verifies a session token (JWT) and says which session and user it names. */
export interface SessionVerifier {
  verify(token: string): Promise<SessionFacts | null>
  /**
   * Calls `listener` whenever a token verified before may no longer verify
   * the same (a session ended, signing keys changed, notifications missed),
   * so that whatever was decided from it is dropped. Returns an unsubscribe.
   */
  onInvalidate?(listener: () => void): () => void
}

export interface SessionFacts {
  id: string
  userId: string
  /** The parent that minted the session for its child userId (the token's `act.sub`); null: none. */
  actorId: string | null
  expiresAt: number
  /** Epoch milliseconds when the session was created. */
  issuedAt?: number
  revoked: boolean
  allowedRoutes: string[] | null
}

export interface ResolvedPrincipal {
  credential: CredentialFacts
  principal: AccountFacts | null
  /** The account that minted the credential for its owner (credential.actorId), as the store has it. */
  actor: AccountFacts | null
}

const NOT_FOUND = { principal: null, actor: null } as const

/** Turns a presented credential into facts about it and its owner. */
export class PrincipalResolver {
  readonly #keys: KeyStore
  readonly #accounts: AccountDirectory
  readonly #sessions: SessionVerifier | undefined
  readonly #keysByHash: LookupCache<KeyRecord>
  readonly #hashByKeyId = new Map<string, string>()

  constructor (keys: KeyStore, accounts: AccountDirectory, options: CacheOptions, sessions?: SessionVerifier, hooks: DirectoryHooks = {}) {
    this.#keys = keys
    this.#accounts = accounts
    this.#sessions = sessions
    this.#keysByHash = new LookupCache<KeyRecord>({
      ...options,
      maxPending: options.maxPendingLookups,
      onStale: () => { hooks.onStale?.('key') },
      dispose: (value, hash) => {
        const record = value as KeyRecord | null
        if (record !== null && this.#hashByKeyId.get(record.id) === hash) this.#hashByKeyId.delete(record.id)
      }
    })
  }

  /**
   * @param deadline performance.now() by which every store lookup must have answered (default: 2 s from now)
   * @throws StoreUnavailableError when the store fails and nothing may be served instead (see LookupCache)
   */
  async resolve (presented: PresentedCredential, deadline = performance.now() + 2_000): Promise<ResolvedPrincipal> {
    switch (presented.type) {
      case 'none':
      case 'other_scheme':
      case 'malformed':
        return { credential: { type: presented.type, found: false }, ...NOT_FOUND }
      case 'secret_key':
        return await this.#resolveKey(presented.key, deadline)
      case 'session':
        return await this.#resolveSession(presented.token, deadline)
      case 'console_session':
        return await this.#resolveConsole(presented.session, deadline)
      case 'stored_key':
        return await this.#resolveStoredKey(presented.keyId, deadline)
    }
  }

  stats (): CacheStats {
    return this.#keysByHash.stats()
  }

  forgetKey (keyId: string): void {
    const hash = this.#hashByKeyId.get(keyId)
    if (hash !== undefined) this.#keysByHash.delete(hash)
  }

  /** A key created now must not stay hidden behind a cached "not found". */
  forgetKeyHash (hash: Buffer): void {
    this.#keysByHash.delete(hash.toString('base64url'))
  }

  clear (): void {
    this.#keysByHash.clear()
    this.#hashByKeyId.clear()
  }

  /** See LookupCache.suspend. */
  suspend (): void {
    this.#keysByHash.suspend()
    this.#hashByKeyId.clear()
  }

  resume (): void {
    this.#keysByHash.resume()
    this.#hashByKeyId.clear()
  }

  async #resolveKey (key: string, deadline: number): Promise<ResolvedPrincipal> {
    // The store wants the hash's bytes, the cache its text: bytes only on a miss.
    const cacheKey = hashSecretKeyBase64url(key)
    const cached = this.#keysByHash.fresh(cacheKey)
    const record = cached !== undefined ? cached : await this.#keysByHash.get(cacheKey, async () => await this.#loadKey(cacheKey), deadline)
    if (record === null) return { credential: { type: 'secret_key', found: false }, ...NOT_FOUND }
    return { credential: keyFacts(record), ...await this.#accounts.ownerAndActor(record.userId, record.actorId, deadline) }
  }

  /** The facts of the key with this id, as if its secret had been presented. */
  async #resolveStoredKey (keyId: string, deadline: number): Promise<ResolvedPrincipal> {
    const record = await withDeadline(this.#keys.findKeyById(keyId), deadline)
    if (record === null) return { credential: { type: 'secret_key', found: false }, ...NOT_FOUND }
    return { credential: keyFacts(record), ...await this.#accounts.ownerAndActor(record.userId, record.actorId, deadline) }
  }

  /** The key's facts under the session's kind, its expiry the sooner of both: the rights of the key, never more. */
  async #resolveConsole (session: ConsoleCredential | null, deadline: number): Promise<ResolvedPrincipal> {
    const key = session === null ? null : await withDeadline(this.#keys.findKeyById(session.keyId), deadline)
    if (session === null || key === null) return { credential: { type: 'console_session', found: false }, ...NOT_FOUND }
    const keyExpiry = key.expiresAt === null ? Infinity : key.expiresAt.getTime()
    return {
      credential: {
        type: 'console_session',
        found: true,
        id: key.id,
        prefix: key.prefix,
        issuedAt: session.issuedAt,
        expiresAt: Math.min(keyExpiry, session.expiresAt),
        revoked: key.revokedAt !== null,
        scopes: key.scopes,
        actorId: key.actorId
      },
      ...await this.#accounts.ownerAndActor(key.userId, key.actorId, deadline)
    }
  }

  /** A key's record from the store, on a cache miss; its owner and actor go to the accounts cache. */
  async #loadKey (cacheKey: string) {
    const accounts = this.#accounts.generation
    const found = await this.#keys.findKeyByHash(Buffer.from(cacheKey, 'base64url'))
    if (found === null) return null
    // The owner and actor come along: their lookups below are then cache hits, not more round trips.
    if (found.owner !== null) this.#accounts.offer(found.owner, accounts)
    if (found.actor !== null) this.#accounts.offer(found.actor, accounts)
    const stripped = stripHash(found)
    this.#hashByKeyId.set(stripped.id, cacheKey)
    return stripped
  }

  async #resolveSession (token: string, deadline: number): Promise<ResolvedPrincipal> {
    const session = this.#sessions === undefined ? null : await withDeadline(this.#sessions.verify(token), deadline)
    if (session === null) return { credential: { type: 'session', found: false }, ...NOT_FOUND }
    return {
      credential: {
        type: 'session',
        found: true,
        id: session.id,
        ...(session.issuedAt === undefined ? {} : { issuedAt: session.issuedAt }),
        expiresAt: session.expiresAt,
        revoked: session.revoked,
        allowedRoutes: session.allowedRoutes,
        actorId: session.actorId
      },
      ...await this.#accounts.ownerAndActor(session.userId, session.actorId, deadline)
    }
  }
}

function keyFacts (record: KeyRecord): CredentialFacts {
  return {
    type: 'secret_key',
    found: true,
    id: record.id,
    prefix: record.prefix,
    issuedAt: record.createdAt.getTime(),
    expiresAt: record.expiresAt === null ? null : record.expiresAt.getTime(),
    revoked: record.revokedAt !== null,
    scopes: record.scopes,
    actorId: record.actorId,
    ...(record.limits === null ? {} : { limits: record.limits })
  }
}

function stripHash (record: KeyRecord & { hash?: Buffer; owner?: UserRecord | null; actor?: UserRecord | null }): KeyRecord {
  const { hash: _hash, owner: _owner, actor: _actor, ...rest } = record
  return rest
}
