import { randomBytes } from 'node:crypto'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
/** The largest multiple of 62 that fits a byte: bytes at or above it are dropped, so every character is equally likely. */
const UNBIASED_LIMIT = 248

/** A random, URL-safe record id such as `usr_4kT0cZ…`: the prefix, an underscore and 20 base62 characters (~119 bits). */
export function newId (prefix: 'usr' | 'key' | 'con'): string {
  let id = `${prefix}_`
  const length = id.length + 20
  while (id.length < length) {
    for (const byte of randomBytes(24)) {
      if (byte < UNBIASED_LIMIT && id.length < length) id += BASE62[byte % 62]
    }
  }
  return id
}
