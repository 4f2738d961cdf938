import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * AES-256-GCM sealing of private signing keys at rest.
 * Layout: version (1 byte) ‖ nonce (12) ‖ tag (16) ‖ ciphertext.
 * The key id is bound as additional data, so a sealed key copied onto another row does not open.
 */
const VERSION = 1
const NONCE_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES

export function seal (secret: Buffer, kid: string, plaintext: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', secret, nonce)
  cipher.setAAD(additionalData(kid))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([Buffer.of(VERSION), nonce, cipher.getAuthTag(), body])
}

/** Throws when the secret is not the one that sealed it, or the bytes were altered. */
export function open (secret: Buffer, kid: string, sealed: Buffer): Buffer {
  if (sealed.length <= HEADER_BYTES || sealed[0] !== VERSION) throw new Error('unknown sealed key format')
  const decipher = createDecipheriv('aes-256-gcm', secret, sealed.subarray(1, 1 + NONCE_BYTES))
  decipher.setAAD(additionalData(kid))
  decipher.setAuthTag(sealed.subarray(1 + NONCE_BYTES, HEADER_BYTES))
  return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()])
}

function additionalData (kid: string): Buffer {
  return Buffer.from(`keygate-signing-key:v${VERSION}:${kid}`)
}
