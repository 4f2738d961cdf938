import { exceedsCap, LimitsError, validateLimits, type Limits } from '../limits/limits.js'
import type { KeyRecord, Store, UserRecord } from '../store/index.js'
import { InvalidInputError, NotFoundError } from './errors.js'

/**
 * Sets (null: clears) an account's rate limit and quota, which count every
 * request of its credentials together. A child's stay within its parent's
 * own limits: a parent caps its children, and no child exceeds that cap.
 */
export async function setAccountLimits (store: Store, id: string, value: unknown): Promise<UserRecord> {
  const limits = checked(value)
  const user = await store.findUserById(id)
  if (user === null || user.status === 'deleted') throw new NotFoundError('no such user')
  if (user.parentId !== null) within(limits, (await store.findUserById(user.parentId))?.limits ?? null, 'parent')
  const updated = await store.setUserLimits(id, limits)
  if (updated === null) throw new NotFoundError('no such user')
  return updated
}

/** Sets (null: clears) a key's rate limit and quota; they stay within its account's (which count the key's requests in any case). */
export async function setKeyLimits (store: Store, keyId: string, value: unknown): Promise<KeyRecord> {
  const limits = checked(value)
  const key = await store.findKeyById(keyId)
  if (key === null || key.revokedAt !== null) throw new NotFoundError('no such key')
  within(limits, (await store.findUserById(key.userId))?.limits ?? null, 'account', false)
  const updated = await store.setKeyLimits(keyId, limits)
  if (updated === null) throw new NotFoundError('no such key')
  return updated
}

function checked (value: unknown): Limits | null {
  try {
    return validateLimits(value)
  } catch (error) {
    if (error instanceof LimitsError) throw new InvalidInputError(error.message)
    throw error
  }
}

function within (limits: Limits | null, cap: Limits | null, whose: string, required = true): void {
  const problem = exceedsCap(limits, cap, required)
  if (problem !== null) throw new InvalidInputError(`limits: ${problem.replace('parent', whose)}`)
}
