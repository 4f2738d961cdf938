import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { newId } from '../store/ids.js'
import type { Database } from '../store/types.js'

/** The console cookie's name. */
export const CONSOLE_COOKIE = 'keygate_console'
/** The header every state-changing console request must carry (see csrfTokenOf). */
export const CSRF_HEADER = 'x-keygate-csrf'
// A console token is neither a secret key nor a JWT: as a Bearer credential it is malformed (401).
const TOKEN_PREFIX = 'kgc.'
const TOKEN = /^kgc\.[A-Za-z0-9_-]{43}$/

export interface ConsoleTimeouts {
  /** A session not used for this long ends. */
  idleSeconds: number
  /** A session ends this long after sign-in, however used. */
  lifetimeSeconds: number
}

export const DEFAULT_CONSOLE_TIMEOUTS: ConsoleTimeouts = { idleSeconds: 30 * 60, lifetimeSeconds: 12 * 3600 }

/** A live console session, as its cookie finds it. */
export interface ConsoleSession {
  id: string
  keyId: string
  createdAt: number
  /** When it ends unless used again (epoch ms): the sooner of the idle and the absolute timeout. */
  expiresAt: number
}

interface Row {
  id: string
  key_id: string
  created_at: Date
  last_seen_at: Date
  expires_at: Date
  ended_at: Date | null
}

/**
 * Console sessions in the store. Only the token's SHA-256 is kept; a session
 * is looked up on every console request (no cache), so that a sign-out on
 * any instance ends it everywhere at once.
 */
export class ConsoleSessions {
  readonly #db: Database
  readonly #timeouts: ConsoleTimeouts
  readonly #clock: () => number

  constructor (db: Database, timeouts: ConsoleTimeouts = DEFAULT_CONSOLE_TIMEOUTS, clock: () => number = Date.now) {
    this.#db = db
    this.#timeouts = timeouts
    this.#clock = clock
  }

  get timeouts (): ConsoleTimeouts {
    return this.#timeouts
  }

  async create (keyId: string): Promise<{ token: string; session: ConsoleSession }> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url')
    const now = this.#clock()
    const id = newId('con')
    const expiresAt = now + this.#timeouts.lifetimeSeconds * 1000
    await this.#db.query(
      `INSERT INTO keygate_console_sessions (id, token_hash, key_id, created_at, last_seen_at, expires_at)
       VALUES ($1, $2, $3, $4, $4, $5)`,
      [id, hashOf(token), keyId, new Date(now), new Date(expiresAt)]
    )
    return { token, session: { id, keyId, createdAt: now, expiresAt: Math.min(expiresAt, now + this.#timeouts.idleSeconds * 1000) } }
  }

  /** The live session the token opens, its idle timeout moved forward; null when it is unknown, ended or timed out. */
  async use (token: string): Promise<ConsoleSession | null> {
    if (!TOKEN.test(token)) return null
    const now = new Date(this.#clock())
    const idleSince = new Date(now.getTime() - this.#timeouts.idleSeconds * 1000)
    const { rows } = await this.#db.query<Row>(
      `UPDATE keygate_console_sessions SET last_seen_at = $2
        WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3
        RETURNING id, key_id, created_at, last_seen_at, expires_at, ended_at`,
      [hashOf(token), now, idleSince]
    )
    const row = rows[0]
    if (row === undefined) return null
    const idleEnd = now.getTime() + this.#timeouts.idleSeconds * 1000
    return { id: row.id, keyId: row.key_id, createdAt: row.created_at.getTime(), expiresAt: Math.min(row.expires_at.getTime(), idleEnd) }
  }

  /** Sign-out: the token opens nothing any more. */
  async end (token: string): Promise<boolean> {
    if (!TOKEN.test(token)) return false
    const { rows } = await this.#db.query(
      'UPDATE keygate_console_sessions SET ended_at = $2 WHERE token_hash = $1 AND ended_at IS NULL RETURNING id',
      [hashOf(token), new Date(this.#clock())]
    )
    return rows.length > 0
  }
}

/**
 * The CSRF token of a console session: derived from its cookie, so another
 * site, which can make the browser send the cookie but never read it, cannot
 * know it. The page reads it once from GET /console/api/session.
 */
export function csrfTokenOf (token: string): string {
  return createHash('sha256').update('keygate console csrf\0').update(token).digest('base64url')
}

export function csrfMatches (token: string, presented: unknown): boolean {
  if (typeof presented !== 'string') return false
  const expected = Buffer.from(csrfTokenOf(token))
  const given = Buffer.from(presented)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

function hashOf (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
