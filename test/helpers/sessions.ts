/**
 * Shared setup for test/sessions/: a settable clock, a Sessions object on a
 * test database, and hand-built (forged) tokens.
 */
import { randomBytes } from 'node:crypto'
import { Sessions, type SessionOptions } from '../../src/sessions/index.js'
import type { Database, Store } from '../../src/store/index.js'

/** Epoch milliseconds that only move when told to. */
export class TestClock {
  now: number
  constructor (start = Date.UTC(2030, 0, 1, 12, 0, 0)) { this.now = start }
  readonly read = (): number => this.now
  advance (ms: number): void { this.now += ms }
}

export function newSessions (db: Database, clock: TestClock, options: Partial<SessionOptions> = {}): Sessions {
  return new Sessions({ db, secret: randomBytes(32), clock: clock.read, ...options })
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
