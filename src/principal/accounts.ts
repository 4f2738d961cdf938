import { LRUCache } from 'lru-cache'
import type { AccountFacts } from '../policy/input.js'
import type { UserRecord } from '../store/types.js'

export interface AccountStore {
  findUserById(id: string): Promise<UserRecord | null>
  findChildByEmail(parentId: string, email: string): Promise<UserRecord | null>
}

export interface CacheOptions {
  /** Most entries kept per cache. */
  max: number
  /** How long an entry may be served without a notification telling otherwise. */
  ttlMs: number
  /** How long "not found" is remembered. */
  negativeTtlMs: number
}

// lru-cache cannot hold null or undefined values.
const MISSING = Symbol('missing')
type Cached<T> = T | typeof MISSING

/** Accounts by id and children by e-mail, cached in front of the store. */
export class AccountDirectory {
  readonly #store: AccountStore
  readonly #options: CacheOptions
  readonly #byId: LRUCache<string, Cached<AccountFacts>>
  readonly #childIdByEmail: LRUCache<string, Cached<string>>

  constructor (store: AccountStore, options: CacheOptions) {
    this.#store = store
    this.#options = options
    this.#byId = new LRUCache({ max: options.max, ttl: options.ttlMs })
    this.#childIdByEmail = new LRUCache({ max: options.max, ttl: options.ttlMs })
  }

  async byId (id: string): Promise<AccountFacts | null> {
    const hit = this.#byId.get(id)
    if (hit !== undefined) return hit === MISSING ? null : hit
    const user = await this.#store.findUserById(id)
    return this.#remember(id, user)
  }

  /** A direct child of parentId with this e-mail (case-insensitive, trimmed). */
  async childByEmail (parentId: string, email: string): Promise<AccountFacts | null> {
    const cacheKey = `${parentId}\u0000${email.trim().toLowerCase()}`
    const hit = this.#childIdByEmail.get(cacheKey)
    if (hit === MISSING) return null
    if (hit !== undefined) return await this.byId(hit)
    const user = await this.#store.findChildByEmail(parentId, email)
    if (user === null) {
      this.#childIdByEmail.set(cacheKey, MISSING, { ttl: this.#options.negativeTtlMs })
      return null
    }
    this.#childIdByEmail.set(cacheKey, user.id)
    return this.#remember(user.id, user)
  }

  forget (userId: string): void {
    this.#byId.delete(userId)
    // An e-mail or parent change must not leave a stale mapping behind.
    for (const [key, id] of this.#childIdByEmail.entries()) {
      if (id === userId || key.startsWith(`${userId}\u0000`)) this.#childIdByEmail.delete(key)
    }
  }

  clear (): void {
    this.#byId.clear()
    this.#childIdByEmail.clear()
  }

  #remember (id: string, user: UserRecord | null): AccountFacts | null {
    if (user === null) {
      this.#byId.set(id, MISSING, { ttl: this.#options.negativeTtlMs })
      return null
    }
    const facts = toAccountFacts(user)
    this.#byId.set(id, facts)
    return facts
  }
}

export function toAccountFacts (user: UserRecord): AccountFacts {
  return {
    id: user.id,
    parentId: user.parentId,
    role: user.role,
    status: user.status,
    restrictions: user.restrictions
  }
}
