import { generateSecretKey } from '../credentials/secret-key.js'
import type { KeyAgeFilter, KeyRecord, Store } from '../store/index.js'
import { validateName } from './validate.js'
import { InvalidInputError, NotFoundError } from './errors.js'

export interface IssueKeyRequest {
  userId: string
  /** The parent minting the key for its child userId, or while acting as it; omitted or null: none. */
  actorId?: string | null
  name?: string | null
  expiresInSeconds?: number
  /** Omitted or null: full access. */
  scopes?: string[] | null
}

export interface IssuedKey {
  id: string
  /** The secret; this is the only time it exists outside its owner's hands. */
  token: string
  createdAt: Date
  record: KeyRecord
}

const SCOPE = /^(\*|read|write|manage|[a-z][a-z0-9-]*:(\*|read|write|manage))$/
export const MAX_KEY_LIFETIME_SECONDS = 10 * 365 * 24 * 3600
export const MAX_SCOPES = 64

/** How many days a key may go unused, or live, before it is flagged; null: not asked. */
export interface KeyAgeQuestion {
  unusedDays?: number | null
  olderThanDays?: number | null
}

/** The operator's thresholds (KEYGATE_KEY_UNUSED_DAYS, KEYGATE_KEY_ROTATION_DAYS) when none are set. */
export const DEFAULT_KEY_AGE: KeyAge = { unusedDays: 90, rotationDays: 90 }

export interface KeyAge { unusedDays: number; rotationDays: number }

/** "Not used for N days" and "older than N days (rotation due)" as the store's filter, counted back from `now`. */
export function keyAgeFilter (question: KeyAgeQuestion, now: Date): KeyAgeFilter {
  const back = (days: number | null | undefined): Date | undefined =>
    days === null || days === undefined ? undefined : new Date(now.getTime() - days * 86_400_000)
  return { notUsedSince: back(question.unusedDays), createdBefore: back(question.olderThanDays) }
}

export function validateScopes (scopes: unknown): string[] | null {
  if (scopes === undefined || scopes === null) return null
  if (!Array.isArray(scopes) || scopes.length > MAX_SCOPES) {
    throw new InvalidInputError(`scopes must be an array of at most ${MAX_SCOPES} strings`)
  }
  for (const scope of scopes) {
    if (typeof scope !== 'string' || !SCOPE.test(scope)) {
      throw new InvalidInputError(`invalid scope ${JSON.stringify(scope)}: expected *, read, write, manage or <resource>:<read|write|manage|*>`)
    }
  }
  return [...new Set(scopes as string[])].sort()
}

export async function issueKey (store: Store, request: IssueKeyRequest, now = new Date()): Promise<IssuedKey> {
  const scopes = validateScopes(request.scopes)
  let expiresAt: Date | null = null
  if (request.expiresInSeconds !== undefined) {
    const seconds = request.expiresInSeconds
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_KEY_LIFETIME_SECONDS) {
      throw new InvalidInputError(`expiresInSeconds must be an integer from 1 to ${MAX_KEY_LIFETIME_SECONDS}`)
    }
    expiresAt = new Date(now.getTime() + seconds * 1000)
  }
  const owner = await store.findUserById(request.userId)
  if (owner === null || owner.status === 'deleted') throw new NotFoundError('no such user')
  const secret = generateSecretKey()
  const record = await store.createKey({
    userId: owner.id,
    actorId: request.actorId ?? null,
    hash: secret.hash,
    prefix: secret.prefix,
    name: validateName(request.name),
    scopes,
    expiresAt
  })
  return { id: record.id, token: secret.key, createdAt: record.createdAt, record }
}

/**
 * Replaces a key: a new key with the same owner, actor, name, scopes and lifetime; the old
 * one keeps working until `graceSeconds` from now, then expires.
 */
export async function rollKey (store: Store, keyId: string, graceSeconds = 0, now = new Date()): Promise<IssuedKey> {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 24 * 3600) {
    throw new InvalidInputError('graceSeconds must be an integer from 0 to 2592000 (30 days)')
  }
  const old = await store.findKeyById(keyId)
  if (old === null || old.revokedAt !== null) throw new NotFoundError('no such key')
  // The new key lives as long as the old one was meant to, counted from now.
  const lifetime = old.expiresAt === null ? undefined : Math.max(1, Math.ceil((old.expiresAt.getTime() - old.createdAt.getTime()) / 1000))
  const replacement = await issueKey(store, { userId: old.userId, actorId: old.actorId, name: old.name, scopes: old.scopes, expiresInSeconds: lifetime }, now)
  await store.setKeyExpiry(old.id, new Date(now.getTime() + graceSeconds * 1000))
  return replacement
}

/** Revokes a key at once (idempotent only in effect: a revoked key is NotFoundError). */
export async function revokeKey (store: Store, keyId: string, now = new Date()): Promise<void> {
  if (!await store.revokeKey(keyId, now)) throw new NotFoundError('no such key')
}

/** Changes what a key is called; its secret, scopes and expiry stay. */
export async function renameKey (store: Store, keyId: string, patch: { name?: string | null }): Promise<KeyRecord> {
  const name = patch.name === undefined ? undefined : validateName(patch.name)
  const key = await store.updateKey(keyId, { name })
  if (key === null) throw new NotFoundError('no such key')
  return key
}
