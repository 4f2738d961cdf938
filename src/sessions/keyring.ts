import { importJWK } from 'jose'
import { SessionConfigError } from './errors.js'
import { open } from './lib/seal.js'
import type { ResolvedSessionOptions } from './options.js'
import { ensureActiveSigningKey, loadUsableSigningKeys, type SigningKeyRow } from './signing-keys.js'

/** A public key as `/.well-known/jwks.json` shows it. */
export interface PublicJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
}

export interface Signer {
  kid: string
  key: CryptoKey
}

interface LoadedKey {
  jwk: PublicJwk
  key: CryptoKey
  /** Epoch ms; null while the key is active. */
  publishUntil: number | null
}

/** An unknown `kid` re-reads the key set at most this often, so forged kids cannot flood the store. */
const UNKNOWN_KID_REFRESH_MS = 1_000

/**
 * The signing keys, in memory: public keys by exact `kid` for verification and
 * the JWKS, and the active private key for minting. Re-read from the store
 * every `keyRefreshMs`, after `invalidate()` (a notification), and on an
 * unknown kid (rate-limited). A `kid` is only ever a map key here.
 */
export class SigningKeyring {
  readonly #options: ResolvedSessionOptions
  #keys = new Map<string, LoadedKey>()
  #active: { kid: string, sealed: Buffer } | null = null
  #signer: Signer | null = null
  #loadedAt = -Infinity
  #loading: Promise<void> | null = null
  /** A load that an invalidation overtook is used, but not counted as fresh. */
  #invalidations = 0

  constructor (options: ResolvedSessionOptions) {
    this.#options = options
  }

  /** The public key for a token's `kid`, if that key may verify tokens now. */
  async verificationKey (kid: string): Promise<CryptoKey | null> {
    await this.#fresh()
    let entry = this.#usable(kid)
    if (entry === undefined && performance.now() - this.#loadedAt >= UNKNOWN_KID_REFRESH_MS) {
      await this.#reload()
      entry = this.#usable(kid)
    }
    return entry?.key ?? null
  }

  /** The active key's private part, making the first key if there is none. */
  async signer (): Promise<Signer> {
    const secret = signingSecretOf(this.#options)
    await this.#fresh()
    if (this.#active === null) {
      await ensureActiveSigningKey(this.#options.db, { ...this.#options, secret, now: this.#options.clock() })
      await this.#reload()
    }
    const active = this.#active
    if (active === null) throw new Error('no active signing key after creating one')
    if (this.#signer?.kid === active.kid) return this.#signer
    const signer = await this.#openSigner(secret, active.kid, active.sealed)
    this.#signer = signer
    return signer
  }

  async jwks (): Promise<{ keys: PublicJwk[] }> {
    await this.#fresh()
    const keys: PublicJwk[] = []
    for (const kid of this.#keys.keys()) {
      const entry = this.#usable(kid)
      if (entry !== undefined) keys.push(entry.jwk)
    }
    return { keys }
  }

  /** Forget what is loaded; the next use re-reads the store. */
  invalidate (): void {
    this.#loadedAt = -Infinity
    this.#invalidations++
  }

  #usable (kid: string): LoadedKey | undefined {
    const entry = this.#keys.get(kid)
    if (entry === undefined || (entry.publishUntil !== null && entry.publishUntil <= this.#options.clock())) return undefined
    return entry
  }

  async #fresh (): Promise<void> {
    if (performance.now() - this.#loadedAt >= this.#options.keyRefreshMs) await this.#reload()
  }

  /** One reload at a time; callers arriving meanwhile wait for it. */
  async #reload (): Promise<void> {
    this.#loading ??= this.#load().finally(() => { this.#loading = null })
    await this.#loading
  }

  async #load (): Promise<void> {
    const invalidations = this.#invalidations
    const rows = await loadUsableSigningKeys(this.#options.db, this.#options.clock())
    const keys = new Map<string, LoadedKey>()
    let active: { kid: string, sealed: Buffer } | null = null
    for (const row of rows) {
      keys.set(row.kid, await this.#toLoadedKey(row))
      if (row.retired_at === null && row.private_sealed !== null) active = { kid: row.kid, sealed: Buffer.from(row.private_sealed) }
    }
    this.#keys = keys
    this.#active = active
    if (invalidations === this.#invalidations) this.#loadedAt = performance.now()
  }

  async #toLoadedKey (row: SigningKeyRow): Promise<LoadedKey> {
    const publishUntil = row.publish_until === null ? null : row.publish_until.getTime()
    const known = this.#keys.get(row.kid)
    if (known !== undefined) return { ...known, publishUntil }
    const jwk: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: row.public_x, kid: row.kid, alg: 'EdDSA', use: 'sig' }
    const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: row.public_x }, 'EdDSA') as CryptoKey
    return { jwk, key, publishUntil }
  }

  async #openSigner (secret: Buffer, kid: string, sealed: Buffer): Promise<Signer> {
    let d: Buffer
    try {
      d = open(secret, kid, sealed)
    } catch (error) {
      throw new SessionConfigError(
        `the signing secret does not open signing key ${kid}: KEYGATE_SIGNING_SECRET (or the key file) changed; ` +
        'restore it, or run `keygate signing-key rotate` to sign with a new key', { cause: error })
    }
    const x = this.#keys.get(kid)?.jwk.x as string
    const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x, d: d.toString('base64url') }, 'EdDSA') as CryptoKey
    return { kid, key }
  }
}

/** The secret that seals private keys; a verify-only Sessions (no secret) cannot sign or rotate. */
export function signingSecretOf (options: Pick<ResolvedSessionOptions, 'secret'>): Buffer {
  if (options.secret === null) throw new TypeError('sessions: minting and rotating need options.secret (this Sessions only verifies)')
  return options.secret
}
