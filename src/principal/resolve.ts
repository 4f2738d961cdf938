import { LRUCache } from 'lru-cache'
import { hashSecretKey } from '../credentials/secret-key.js'
import type { PresentedCredential } from '../credentials/parse.js'
import type { AccountFacts, CredentialFacts } from '../policy/input.js'
import type { KeyRecord } from '../store/types.js'
import type { AccountDirectory, CacheOptions } from './accounts.js'

export interface KeyStore {
  findKeyByHash(hash: Buffer): Promise<KeyRecord | null>
}

/** Verifies a session token (JWT) and says which session and user it names. */
export interface SessionVerifier {
  verify(token: string): Promise<SessionFacts | null>
}

export interface SessionFacts {
  id: string
  userId: string
  expiresAt: number
  revoked: boolean
  allowedRoutes: string[] | null
}

export interface ResolvedPrincipal {
  credential: CredentialFacts
  principal: AccountFacts | null
}

const MISSING = Symbol('missing')

/** Turns a presented credential into facts about it and its owner. */
export class PrincipalResolver {
  readonly #keys: KeyStore
  readonly #accounts: AccountDirectory
  readonly #sessions: SessionVerifier | undefined
  readonly #options: CacheOptions
  readonly #keysByHash: LRUCache<string, KeyRecord | typeof MISSING>
  readonly #hashByKeyId = new Map<string, string>()

  constructor (keys: KeyStore, accounts: AccountDirectory, options: CacheOptions, sessions?: SessionVerifier) {
    this.#keys = keys
    this.#accounts = accounts
    this.#sessions = sessions
    this.#options = options
    this.#keysByHash = new LRUCache({
      max: options.max,
      ttl: options.ttlMs,
      dispose: (value, hash) => {
        if (value !== MISSING && this.#hashByKeyId.get(value.id) === hash) this.#hashByKeyId.delete(value.id)
      }
    })
  }

  async resolve (presented: PresentedCredential): Promise<ResolvedPrincipal> {
    switch (presented.type) {
      case 'none':
      case 'malformed':
        return { credential: { type: presented.type, found: false }, principal: null }
      case 'secret_key':
        return await this.#resolveKey(presented.key)
      case 'session':
        return await this.#resolveSession(presented.token)
    }
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

  async #resolveKey (key: string): Promise<ResolvedPrincipal> {
    const hash = hashSecretKey(key)
    const cacheKey = hash.toString('base64url')
    let record = this.#keysByHash.get(cacheKey)
    if (record === undefined) {
      const found = await this.#keys.findKeyByHash(hash)
      if (found === null) {
        record = MISSING
        this.#keysByHash.set(cacheKey, MISSING, { ttl: this.#options.negativeTtlMs })
      } else {
        record = stripHash(found)
        this.#keysByHash.set(cacheKey, record)
        this.#hashByKeyId.set(record.id, cacheKey)
      }
    }
    if (record === MISSING) return { credential: { type: 'secret_key', found: false }, principal: null }
    return {
      credential: {
        type: 'secret_key',
        found: true,
        id: record.id,
        prefix: record.prefix,
        expiresAt: record.expiresAt === null ? null : record.expiresAt.getTime(),
        revoked: record.revokedAt !== null,
        scopes: record.scopes
      },
      principal: await this.#accounts.byId(record.userId)
    }
  }

  async #resolveSession (token: string): Promise<ResolvedPrincipal> {
    const session = this.#sessions === undefined ? null : await this.#sessions.verify(token)
    if (session === null) return { credential: { type: 'session', found: false }, principal: null }
    return {
      credential: {
        type: 'session',
        found: true,
        id: session.id,
        expiresAt: session.expiresAt,
        revoked: session.revoked,
        allowedRoutes: session.allowedRoutes
      },
      principal: await this.#accounts.byId(session.userId)
    }
  }
}

function stripHash (record: KeyRecord & { hash?: Buffer }): KeyRecord {
  const { hash: _hash, ...rest } = record
  return rest
}
