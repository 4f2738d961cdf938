import { isRestriction, RESTRICTION_LIST, RESTRICTIONS, type Restriction } from '../policy/restrictions.js'
import type { Store, UserPatch, UserRecord } from '../store/index.js'
import { ConflictError, InvalidInputError, NotFoundError } from './errors.js'
import { issueKey } from './keys.js'
import { validateEmail, validateName } from './validate.js'

const MAX_RESTRICTIONS = 32

export { RESTRICTIONS, validateEmail, validateName }

export interface CreateAccountRequest {
  email: string
  name?: string | null
  parentId?: string | null
  role?: 'user' | 'admin'
}

export function validateRestriction (flag: unknown): Restriction {
  if (!isRestriction(flag)) throw new InvalidInputError(`unknown restriction ${JSON.stringify(flag)}: known ones are ${RESTRICTION_LIST}`)
  return flag
}

export function validateRestrictions (flags: unknown): Restriction[] {
  if (!Array.isArray(flags) || flags.length > MAX_RESTRICTIONS) {
    throw new InvalidInputError(`restrictions must be an array of known restrictions: ${RESTRICTION_LIST}`)
  }
  return [...new Set(flags.map(validateRestriction))].sort()
}

/** What a caller may change on an account; which fields a route exposes is the route's business. */
export interface AccountPatch {
  name?: string | null
  email?: string
  restrictions?: string[]
  disabled?: boolean
}

/** Changes the fields present; a live account only (NotFoundError otherwise). */
export async function updateAccount (store: Store, id: string, patch: AccountPatch): Promise<UserRecord> {
  const checked: UserPatch = {}
  if (patch.name !== undefined) checked.name = validateName(patch.name)
  if (patch.email !== undefined) checked.email = validateEmail(patch.email)
  if (patch.restrictions !== undefined) checked.restrictions = validateRestrictions(patch.restrictions)
  if (patch.disabled !== undefined) {
    if (typeof patch.disabled !== 'boolean') throw new InvalidInputError('disabled must be true or false')
    checked.disabled = patch.disabled
  }
  return found(await store.updateUser(id, checked))
}

/** Adds (restrict) or removes (unrestrict) one known flag; idempotent. */
export async function setRestriction (store: Store, id: string, flag: unknown, present: boolean): Promise<UserRecord> {
  const known = validateRestriction(flag)
  return found(present ? await store.addRestriction(id, known) : await store.removeRestriction(id, known))
}

/** Soft delete: the account's keys are revoked with it, and its sessions stop working. */
export async function deleteAccount (store: Store, id: string): Promise<void> {
  if (!await store.deleteUser(id)) throw new NotFoundError('no such user')
}

function found (user: UserRecord | null): UserRecord {
  if (user === null) throw new NotFoundError('no such user')
  return user
}

export async function createAccount (store: Store, request: CreateAccountRequest): Promise<UserRecord> {
  const email = validateEmail(request.email)
  const name = validateName(request.name)
  const parentId = request.parentId ?? null
  if (parentId !== null) {
    const parent = await store.findUserById(parentId)
    if (parent === null || parent.status === 'deleted') throw new NotFoundError('no such parent account')
  }
  return await store.createUser({ email, name, parentId, role: request.role ?? 'user' })
}

/** The first admin account and its key, on an empty store only. */
export async function bootstrap (store: Store, request: { email: string; name?: string | null }): Promise<{ userId: string; token: string }> {
  // One bootstrap at a time, whichever instance or CLI runs it: the second sees the first's account.
  return await store.transaction(async (tx) => {
    if (await tx.countUsers() > 0) throw new ConflictError('the store already has accounts; bootstrap runs once, on an empty store')
    const admin = await createAccount(tx, { email: request.email, name: request.name ?? 'Administrator', role: 'admin' })
    const key = await issueKey(tx, { userId: admin.id, name: 'bootstrap' })
    return { userId: admin.id, token: key.token }
  }, { lock: BOOTSTRAP_LOCK })
}

const BOOTSTRAP_LOCK = 0x6b676274
