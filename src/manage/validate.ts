import { isEmail } from '../lib/email.js'
import { InvalidInputError } from './errors.js'

/** Field checks shared by accounts and keys; messages are safe to show the caller. */

const MAX_NAME_LENGTH = 200

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
