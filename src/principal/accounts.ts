import { canonicalEmail } from '../lib/email.js'
import type { AccountFacts } from '../policy/input.js'
import type { UserRecord } from '../store/types.js'
import { LookupCache, type CacheStats } from './lib/lookup-cache.js'

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
  /**
   * Stale-if-error: how long past `ttlMs` a *found* key or account may still be
   * served while the store fails or misses the decision deadline (0: never).
   * "Not found" is never served stale, and an entry dropped by a notification
   * is gone for good.
   */
  staleIfErrorMs: number
  /** Most distinct store lookups waiting at once per cache; more are answered 503 at once. */
  maxPendingLookups: number
}

export interface DirectoryHooks {
  /** A value past its TTL was served because the store failed. */
  onStale?: (cache: 'account' | 'key') => void
}

/** Accounts by id and children by e-mail, cached in front of the store (see LookupCache for the rules). */
export class AccountDirectory {
  readonly #store: AccountStore
  readonly #byId: LookupCache<AccountFacts>
  readonly #childIdByEmail: LookupCache<string>

  constructor (store: AccountStore, options: CacheOptions, hooks: DirectoryHooks = {}) {
    this.#store = store
    const cache = { ...options, maxPending: options.maxPendingLookups, onStale: () => { hooks.onStale?.('account') } }
    this.#byId = new LookupCache(cache)
    this.#childIdByEmail = new LookupCache(cache)
  }

  /** @param deadline performance.now() by which the store must have answered (default: 2 s from now) */
  async byId (id: string, deadline = performance.now() + 2_000): Promise<AccountFacts | null> {
    return await this.#byId.get(id, async () => {
      const user = await this.#store.findUserById(id)
      return user === null ? null : toAccountFacts(user)
    }, deadline)
  }

  /**
   * A credential's owner and its actor (none when actorId is null), from the
   * cache when fresh there: the hot path answers without awaiting anything
   * but these two lookups, at once.
   */
  async ownerAndActor (ownerId: string, actorId: string | null, deadline = performance.now() + 2_000): Promise<{ principal: AccountFacts | null; actor: AccountFacts | null }> {
    const owner = this.fresh(ownerId)
    const actor = actorId === null ? null : this.fresh(actorId)
    if (owner !== undefined && actor !== undefined) return { principal: owner, actor }
    const [principal, actorFacts] = await Promise.all([
      owner !== undefined ? owner : this.byId(ownerId, deadline),
      actor !== undefined ? actor : this.byId(actorId as string, deadline)
    ])
    return { principal, actor: actorFacts }
  }

  /** Take before reading an account outside `byId`; pass to `offer`. */
  get generation (): number {
    return this.#byId.generation
  }

  /** An account read with something else (a key with its owner), cached unless a change overlapped the read. */
  offer (user: UserRecord, generation: number): void {
    this.#byId.offer(user.id, toAccountFacts(user), generation)
  }

  stats (): { accounts: CacheStats; children: CacheStats } {
    return { accounts: this.#byId.stats(), children: this.#childIdByEmail.stats() }
  }

  /** The account if cached and fresh (null: "not found"); undefined when the cache cannot say (ask byId). */
  fresh (id: string): AccountFacts | null | undefined {
    return this.#byId.fresh(id)
  }

  /** A direct child of parentId with this e-mail, compared in canonical form (src/lib/email.ts). */
  async childByEmail (parentId: string, email: string, deadline = performance.now() + 2_000): Promise<AccountFacts | null> {
    const cacheKey = `${parentId}\u0000${canonicalEmail(email)}`
    const childId = await this.#childIdByEmail.get(cacheKey, async () => {
      const user = await this.#store.findChildByEmail(parentId, email)
      return user?.id ?? null
    }, deadline)
    return childId === null ? null : await this.byId(childId, deadline)
  }

  /**
   * Drops the account and every child-by-e-mail answer that involves it, as
   * child or as parent, and those under `parentId` ("no such child" included:
   * one may just have been created or moved there). One pass over the cache.
   */
  forget (userId: string, parentId: string | null = null): void {
    this.#byId.delete(userId)
    // An e-mail or parent change must not leave a stale mapping behind.
    const asParent = `${userId}\u0000`
    const underParent = parentId === null ? null : `${parentId}\u0000`
    this.#childIdByEmail.deleteWhere((id, key) =>
      id === userId || key.startsWith(asParent) || (underParent !== null && key.startsWith(underParent)))
  }

  clear (): void {
    this.#byId.clear()
    this.#childIdByEmail.clear()
  }

  /** See LookupCache.suspend. */
  suspend (): void {
    this.#byId.suspend()
    this.#childIdByEmail.suspend()
  }

  resume (): void {
    this.#byId.resume()
    this.#childIdByEmail.resume()
  }
}

export function toAccountFacts (user: UserRecord): AccountFacts {
  return {
    id: user.id,
    parentId: user.parentId,
    role: user.role,
    status: user.status,
    restrictions: user.restrictions,
    // Only when set: an account without limits has the same facts as before limits existed.
    ...(user.limits === null ? {} : { limits: user.limits })
  }
}
