import { InvalidInputError } from './errors.js'

/** Field checks shared by accounts and keys; messages are safe to show the caller. */

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const MAX_NAME_LENGTH = 200

export function validateEmail (email: unknown): string {
  if (typeof email !== 'string' || email.trim().length > 254 || !EMAIL.test(email.trim())) {
    throw new InvalidInputError('email must be an e-mail address')
  }
  return email.trim()
}

export function validateName (name: unknown): string | null {
  if (name === undefined || name === null) return null
  if (typeof name !== 'string' || name.length > MAX_NAME_LENGTH) {
    throw new InvalidInputError(`name must be a string of at most ${MAX_NAME_LENGTH} characters`)
  }
  return name
}
