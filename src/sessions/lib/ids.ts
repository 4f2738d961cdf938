import { randomBytes } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const RANDOM_LENGTH = 20

/** Session ids (the token's `jti`); same shape as the store's `usr_…` and `key_…` ids. */
export const SESSION_ID = /^ses_[0-9A-Za-z]{20}$/
/** Signing key ids (the token header's `kid`). */
export const KEY_ID = /^sig_[0-9A-Za-z]{20}$/

export function newSessionId (): string {
  return 'ses_' + randomBase62(RANDOM_LENGTH)
}

export function newKeyId (): string {
  return 'sig_' + randomBase62(RANDOM_LENGTH)
}

function randomBase62 (length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62]
    }
  }
  return out
}
