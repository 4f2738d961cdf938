import { isEmail } from '../lib/email.js'
import type { Store, UserRecord } from '../store/index.js'
import { ConflictError, InvalidInputError, NotFoundError } from './errors.js'
import { issueKey } from './keys.js'

export const RESTRICTION_FLAG = /^[a-z][a-z0-9-]{0,63}$/
/** The flags the default policy gives meaning to; others are stored for custom policies. */
export const KNOWN_RESTRICTIONS = ['impersonation', 'read-only', 'suspended'] as const

const MAX_NAME_LENGTH = 200

export interface CreateAccountRequest {
  email: string
  name?: string | null
  parentId?: string | null
  role?: 'user' | 'admin'
}

/** An address in Keygate's one grammar (src/lib/email.ts), exactly as given: nothing is trimmed. */
export function validateEmail (email: unknown): string {
  if (typeof email !== 'string' || !isEmail(email)) throw new InvalidInputError('email must be an e-mail address')
  return email
}

export function validateName (name: unknown): string | null {
  if (name === undefined || name === null) return null
  if (typeof name !== 'string' || name.length > MAX_NAME_LENGTH) {
    throw new InvalidInputError(`name must be a string of at most ${MAX_NAME_LENGTH} characters`)
  }
  return name
}

export function validateRestriction (flag: unknown): string {
  if (typeof flag !== 'string' || !RESTRICTION_FLAG.test(flag)) {
    throw new InvalidInputError(`invalid restriction ${JSON.stringify(flag)}: lower-case letters, digits and dashes`)
  }
  return flag
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
