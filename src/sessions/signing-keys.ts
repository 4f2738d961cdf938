import { exportJWK, generateKeyPair } from 'jose'
import type { Database, SqlClient } from '../store/types.js'
import { newKeyId } from './lib/ids.js'
import { seal } from './lib/seal.js'
import type { ResolvedSessionOptions } from './options.js'

/** Serializes key creation and rotation across instances (an arbitrary constant: "kgsk"). */
const SIGNING_KEY_LOCK = 0x6b67736b
/** Instances drop their key set when this channel fires. */
export const SIGNING_KEYS_CHANNEL = 'keygate_signing_keys'

export type SigningKeyState = 'active' | 'retired' | 'expired'

/** A signing key as operators see it; never the private part. */
export interface SigningKeyInfo {
  kid: string
  alg: 'EdDSA'
  crv: 'Ed25519'
  /** active: signs new tokens; retired: verifies and is published until `publishUntil`; expired: neither. */
  state: SigningKeyState
  createdAt: Date
  retiredAt: Date | null
  publishUntil: Date | null
}

export interface SigningKeyRow {
  kid: string
  public_x: string
  private_sealed: Uint8Array | null
  created_at: Date
  retired_at: Date | null
  publish_until: Date | null
}

const COLUMNS = 'kid, public_x, private_sealed, created_at, retired_at, publish_until'

/** What rotation needs: the secret that seals the new key, the clock reading, and the lifetime limits of tokens. */
export type RotationOptions = Pick<ResolvedSessionOptions, 'maxDurationSeconds' | 'clockToleranceSeconds'> & {
  secret: Buffer
  /** Epoch milliseconds. */
  now: number
}

/**
 * Retires the active key (its private part is erased; its public part stays
 * published until every token it signed has expired) and makes a new active key.
 */
export async function rotateSigningKey (db: Database, options: RotationOptions): Promise<SigningKeyInfo> {
  return await withKeyLock(db, async (tx) => await replaceActiveKey(tx, options))
}

/** Rotates only when the active key was created more than `maxAgeSeconds` ago, or there is none; null when nothing was done. */
export async function rotateSigningKeyIfOlderThan (db: Database, maxAgeSeconds: number, options: RotationOptions): Promise<SigningKeyInfo | null> {
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 1) throw new TypeError('rotateIfOlderThan: maxAgeSeconds must be a positive integer')
  return await withKeyLock(db, async (tx) => {
    const active = await activeKey(tx)
    if (active !== null && options.now - active.created_at.getTime() < maxAgeSeconds * 1000) return null
    return await replaceActiveKey(tx, options)
  })
}

/** Makes the first key when there is no active one; does nothing otherwise. */
export async function ensureActiveSigningKey (db: Database, options: RotationOptions): Promise<void> {
  await withKeyLock(db, async (tx) => {
    if (await activeKey(tx) === null) await replaceActiveKey(tx, options)
  })
}

/** Every key ever made, with its state at `now`: the active one first, then by retirement, latest first. */
export async function listSigningKeys (db: SqlClient, now: number): Promise<SigningKeyInfo[]> {
  const { rows } = await db.query<SigningKeyRow>(`SELECT ${COLUMNS} FROM keygate_signing_keys ORDER BY retired_at DESC NULLS FIRST, created_at DESC, kid`)
  return rows.map((row) => describeKey(row, now))
}

/** The keys that can still verify a token at `now`: the active one and retired ones still published. */
export async function loadUsableSigningKeys (db: SqlClient, now: number): Promise<SigningKeyRow[]> {
  const { rows } = await db.query<SigningKeyRow>(
    `SELECT ${COLUMNS} FROM keygate_signing_keys WHERE retired_at IS NULL OR publish_until > $1 ORDER BY retired_at DESC NULLS FIRST, created_at DESC, kid`,
    [new Date(now)])
  return rows
}

export function describeKey (row: SigningKeyRow, now: number): SigningKeyInfo {
  const state: SigningKeyState = row.retired_at === null
    ? 'active'
    : (row.publish_until as Date).getTime() > now ? 'retired' : 'expired'
  return {
    kid: row.kid, alg: 'EdDSA', crv: 'Ed25519', state, createdAt: row.created_at, retiredAt: row.retired_at, publishUntil: row.publish_until
  }
}

async function withKeyLock<T> (db: Database, fn: (tx: SqlClient) => Promise<T>): Promise<T> {
  return await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SIGNING_KEY_LOCK])
    return await fn(tx)
  })
}

async function activeKey (tx: SqlClient): Promise<SigningKeyRow | null> {
  const { rows } = await tx.query<SigningKeyRow>(`SELECT ${COLUMNS} FROM keygate_signing_keys WHERE retired_at IS NULL`)
  return rows[0] ?? null
}

async function replaceActiveKey (tx: SqlClient, options: RotationOptions): Promise<SigningKeyInfo> {
  const { secret, now, maxDurationSeconds, clockToleranceSeconds } = options
  const at = new Date(now)
  // Published until the later of: a token minted just now expiring, and the latest expiry recorded
  // for the key (tokens minted under a longer maximum than today's); each plus the clock tolerance.
  await tx.query(
    `UPDATE keygate_signing_keys k SET retired_at = $1, private_sealed = NULL,
       publish_until = greatest($2::timestamptz,
         (SELECT max(s.expires_at) FROM keygate_sessions s WHERE s.kid = k.kid) + $3::integer * interval '1 second')
     WHERE retired_at IS NULL`,
    [at, new Date(now + (maxDurationSeconds + clockToleranceSeconds) * 1000), clockToleranceSeconds])
  const kid = newKeyId()
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const jwk = await exportJWK(privateKey)
  const { rows } = await tx.query<SigningKeyRow>(
    `INSERT INTO keygate_signing_keys (kid, alg, crv, public_x, private_sealed, created_at)
     VALUES ($1, 'EdDSA', 'Ed25519', $2, $3, $4) RETURNING ${COLUMNS}`,
    [kid, jwk.x, seal(secret, kid, Buffer.from(jwk.d as string, 'base64url')), at])
  await tx.query('SELECT pg_notify($1, $2)', [SIGNING_KEYS_CHANNEL, kid])
  return describeKey(rows[0] as SigningKeyRow, now)
}
