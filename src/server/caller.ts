import type { FastifyRequest } from 'fastify'
import { validateScopes } from '../manage/keys.js'
import type { KeyRecord, UserRecord } from '../store/types.js'
import type { Store } from '../store/store.js'
import { HttpError } from '../errors.js'

/** The account an authorized management request acts as: the decision's subject. */
export function subjectOf (request: FastifyRequest): string {
  const subject = request.keygate?.subject
  // Management routes sit behind the keygate plugin; an allowed decision always names a subject.
  if (typeof subject !== 'string') throw new Error('management route reached without an allowed decision')
  return subject
}

/**
 * The account acting as the subject (the decision's actor), or null: the
 * actor of any credential the request mints for its subject.
 */
export function actorOf (request: FastifyRequest): string | null {
  return request.keygate?.actor ?? null
}

/**
 * The scopes a new key may have when the caller's own key made the request:
 * never more than the caller holds, or a `manage`-scoped key could mint
 * (or roll its way to) a full-access one. Omitted scopes mean the caller's.
 * A wider request is refused with the ordinary 403.
 */
export async function grantableScopes (store: Store, request: FastifyRequest, requested: unknown): Promise<string[] | null> {
  const wanted = validateScopes(requested)
  const held = await callerScopes(store, request)
  if (held === null || held.includes('*')) return wanted
  if (wanted === null) return held
  if (wanted.every((scope) => held.includes(scope))) return wanted
  throw new HttpError('NOT_AUTHORIZED')
}

async function callerScopes (store: Store, request: FastifyRequest): Promise<string[] | null> {
  const credential = request.keygate?.credential
  // The policy lets only secret keys (and console sessions, which carry one's rights) manage keys and accounts.
  if ((credential?.type !== 'secret_key' && credential?.type !== 'console_session') || credential.id === null) throw new HttpError('NOT_AUTHORIZED')
  const key = await store.findKeyById(credential.id)
  if (key === null) throw new HttpError('NOT_AUTHORIZED')
  return key.scopes
}

/** A live direct child of parentId; anything else is the same 404 as an id that never existed. */
export async function ownChild (store: Store, parentId: string, id: string): Promise<UserRecord> {
  const user = await store.findUserById(id)
  if (user === null || user.parentId !== parentId || user.status === 'deleted') throw new HttpError('NOT_FOUND')
  return user
}

/** A key of userId that is not revoked; anything else is the same 404 as an id that never existed. */
export async function ownKey (store: Store, userId: string, id: string): Promise<KeyRecord> {
  const key = await store.findKeyById(id)
  if (key === null || key.userId !== userId || key.revokedAt !== null) throw new HttpError('NOT_FOUND')
  return key
}
