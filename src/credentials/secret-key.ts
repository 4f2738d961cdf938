import * as crypto from 'node:crypto'
import { createHash, randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'

/**
 * Secret key format: `sk-` + 43 base62 characters of randomness (≥ 256 bits)
 * + 6 base62 characters of CRC-32 over everything before them, like GitHub's
 * tokens. The checksum lets a mistyped or forged key be refused without a
 * store query; it is not a secret and proves nothing about authenticity.
 */
export const SECRET_KEY_PREFIX = 'sk-'
const RANDOM_LENGTH = 43
const CHECKSUM_LENGTH = 6
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const KEY_PATTERN = /^sk-[0-9A-Za-z]{49}$/
const DISPLAY_LENGTH = 6

export const SECRET_KEY_LENGTH = SECRET_KEY_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH

export interface IssuedSecretKey {
  /** The secret, shown to its owner once. */
  key: string
  /** SHA-256 of the key; what the store keeps. */
  hash: Buffer
  /** Non-secret display prefix. */
  prefix: string
}

export function generateSecretKey (): IssuedSecretKey {
  let random = ''
  while (random.length < RANDOM_LENGTH) {
    for (const byte of randomBytes(64)) {
      // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
      if (byte < 248 && random.length < RANDOM_LENGTH) random += ALPHABET[byte % 62]
    }
  }
  const body = SECRET_KEY_PREFIX + random
  const key = body + checksumOf(body)
  return { key, hash: hashSecretKey(key), prefix: displayPrefix(key) }
}

/** True when the key has the right shape and its checksum matches. No I/O. */
export function isWellFormedSecretKey (key: string): boolean {
  if (key.length !== SECRET_KEY_LENGTH || !KEY_PATTERN.test(key)) return false
  // Anyone can compute the checksum of the body they send: a plain comparison gives nothing away.
  return key.endsWith(checksumOf(key.slice(0, -CHECKSUM_LENGTH)))
}

// crypto.hash (Node 20.12+) hashes in one call, at half the cost of createHash().update().digest() on a key.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer' | 'base64url') => Buffer | string }).hash

export function hashSecretKey (key: string): Buffer {
  return oneShot === undefined ? createHash('sha256').update(key).digest() : oneShot('sha256', key, 'buffer') as Buffer
}

/** hashSecretKey(key) as base64url, without a Buffer in between (a cache key). */
export function hashSecretKeyBase64url (key: string): string {
  return oneShot === undefined ? createHash('sha256').update(key).digest('base64url') : oneShot('sha256', key, 'base64url') as string
}

export function displayPrefix (key: string): string {
  return key.slice(0, SECRET_KEY_PREFIX.length + DISPLAY_LENGTH)
}

function checksumOf (body: string): string {
  let n = crc32(body)
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[n % 62] + out
    n = Math.floor(n / 62)
  }
  return out
}
