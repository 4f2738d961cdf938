/**
 * Shared setup for test/sessions/: a settable clock, a Sessions object on a
 * test database, hand-built tokens signed with the real signing key, and
 * spies that count store queries, signature checks and outbound requests.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { importJWK } from 'jose'
import type { Test } from 'tap'
import { Sessions, type SessionOptions } from '../../src/sessions/index.js'
import { open } from '../../src/sessions/lib/seal.js'
import type { Database, Store } from '../../src/store/index.js'

/** The signing secret of every Sessions object these tests make, unless they pass another. */
export const TEST_SECRET = randomBytes(32)

/** Epoch milliseconds that only move when told to; starts on a whole second. */
export class TestClock {
  now: number
  constructor (start = Date.UTC(2030, 0, 1, 12, 0, 0)) { this.now = start }
  readonly read = (): number => this.now
  advance (ms: number): void { this.now += ms }
  get seconds (): number { return Math.floor(this.now / 1000) }
}

export function newSessions (db: Database, clock: TestClock, options: Partial<SessionOptions> = {}): Sessions {
  return new Sessions({ db, secret: TEST_SECRET, clock: clock.read, ...options })
}

let users = 0
export async function newUser (store: Store, parentId: string | null = null): Promise<string> {
  const user = await store.createUser({ email: `user${++users}-${randomBytes(3).toString('hex')}@example.com`, parentId })
  return user.id
}

export function b64 (value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}

/** The three parts of a compact JWS. */
export function partsOf (token: string): { header: Record<string, unknown>, payload: Record<string, unknown>, signature: string } {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString()),
    signature
  }
}

/** The active signing key's private part, opened with TEST_SECRET: lets a test sign whatever it likes. */
export async function activeSigningKey (db: Database): Promise<{ kid: string, x: string, key: CryptoKey }> {
  const { rows: [row] } = await db.query<{ kid: string, public_x: string, private_sealed: Buffer }>(
    'SELECT kid, public_x, private_sealed FROM keygate_signing_keys WHERE retired_at IS NULL')
  if (row === undefined) throw new Error('no active signing key: mint a session first')
  const d = open(TEST_SECRET, row.kid, Buffer.from(row.private_sealed)).toString('base64url')
  const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: row.public_x, d }, 'EdDSA') as CryptoKey
  return { kid: row.kid, x: row.public_x, key }
}

/** A compact JWS over exactly this header and payload (a string payload is used as is), signed with Ed25519. */
export async function signRaw (key: CryptoKey, header: unknown, payload: unknown): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`
  const signature = await crypto.subtle.sign('Ed25519', key, Buffer.from(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}

export interface Spies {
  /** Ed25519 (or any) signature checks through WebCrypto, which jose uses. */
  verifications: number
  /** Queries on the database, in or out of transactions. */
  queries: number
  /** fetch, http(s).request and http(s).get calls. */
  outbound: number
  reset (): void
}

/** Counts, until t ends, what a refused token must not cause. */
export function spy (t: Test, db: Database): Spies {
  const counts: Spies = {
    verifications: 0,
    queries: 0,
    outbound: 0,
    reset () { this.verifications = 0; this.queries = 0; this.outbound = 0 }
  }
  const subtle = crypto.subtle
  const verify = subtle.verify
  subtle.verify = async function (...args: Parameters<SubtleCrypto['verify']>) {
    counts.verifications++
    return await verify.apply(subtle, args)
  }
  const query = db.query
  db.query = async function (...args: Parameters<Database['query']>) {
    counts.queries++
    return await query.apply(db, args)
  } as Database['query']
  const transaction = db.transaction
  db.transaction = async function (fn) {
    return await transaction.call(db, async (tx) => await fn({
      query: async (sql, params) => { counts.queries++; return await tx.query(sql, params) },
      exec: async (sql) => { counts.queries++; await tx.exec(sql) }
    }))
  } as Database['transaction']
  const read = db.read
  db.read = async function (...args: Parameters<Database['read']>) {
    counts.queries++
    return await read.apply(db, args)
  } as Database['read']
  const fetch = globalThis.fetch
  globalThis.fetch = async () => { counts.outbound++; throw new Error('no outbound requests in tests') }
  const patched: Array<[typeof http, 'request' | 'get', unknown]> = []
  for (const module of [http, https] as Array<typeof http>) {
    for (const name of ['request', 'get'] as const) {
      patched.push([module, name, module[name]])
      module[name] = (() => { counts.outbound++; throw new Error('no outbound requests in tests') }) as never
    }
  }
  t.teardown(() => {
    subtle.verify = verify
    db.query = query
    db.transaction = transaction
    db.read = read
    globalThis.fetch = fetch
    for (const [module, name, original] of patched) module[name] = original as never
  })
  return counts
}
