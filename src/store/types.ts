import type { Limits } from '../limits/limits.js'
import type { AccountStatus } from '../policy/input.js'

/** The smallest surface both drivers (pg, PGlite) provide; all SQL goes through it. */
export interface SqlClient {
  /** One statement, parameters bound as $1, $2, … */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>
  /** A script of one or more statements without parameters (migrations). */
  exec(sql: string): Promise<void>
}

export interface ListenOptions {
  /**
   * Called after the connection that listens was lost and is back, listening
   * again: notifications sent meanwhile are lost, so whatever they would have
   * invalidated must be dropped now. Never called by PGlite, which runs in
   * this process and cannot lose its connection.
   */
  onReconnect?: () => void
  /**
   * Called when the connection that listens is lost: from now until
   * onReconnect, changes may happen unheard, so nothing cached may be
   * trusted. Never called by PGlite.
   */
  onLost?: () => void
}

export interface Database extends SqlClient {
  readonly driver: 'pg' | 'pglite'
  /**
   * One read-only statement that a read replica may answer, but never with
   * state older than a change this Database has made or heard of (see
   * src/store/replicas.ts); the primary answers it otherwise. `query` always
   * goes to the primary: use it for writes and for whatever must be fresh.
   */
  read<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>
  /**
   * Runs fn in one transaction on one connection: committed if fn resolves,
   * rolled back if it throws (its error is rethrown as is). Query through `tx`
   * only: PGlite has a single connection, and a query on the database itself
   * would wait for the transaction to end, forever.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>
  /**
   * `COPY … FROM STDIN` with `data` in COPY's text format, one statement (all
   * rows or none). The pg driver only: PGlite has none.
   */
  copyFrom?(sql: string, data: string): Promise<void>
  /** LISTEN on a channel; returns an unsubscribe function. */
  listen(channel: string, onPayload: (payload: string) => void, options?: ListenOptions): Promise<() => Promise<void>>
  close(): Promise<void>
}

export interface UserRecord {
  id: string
  email: string
  name: string | null
  parentId: string | null
  role: 'user' | 'admin'
  restrictions: string[]
  status: AccountStatus
  createdAt: Date
  updatedAt: Date
  /** Rate limit and quota of the account (all its credentials together); null: none. */
  limits: Limits | null
}

export interface KeyRecord {
  id: string
  userId: string
  /** The parent that minted the key for its child (userId), or null: the owner's own key. */
  actorId: string | null
  name: string | null
  /** Display prefix, e.g. "sk-AbC123"; not secret. */
  prefix: string
  scopes: string[] | null
  createdAt: Date
  /** Last change of name, expiry or revocation. */
  updatedAt: Date
  expiresAt: Date | null
  revokedAt: Date | null
  lastUsedAt: Date | null
  /** Requests the key authenticated, written in batches by the audit stage (so it lags a little). */
  useCount: number
  /** Rate limit and quota of this key; null: none. */
  limits: Limits | null
}

export interface NewUser {
  email: string
  name?: string | null
  parentId?: string | null
  role?: 'user' | 'admin'
}

export interface NewKey {
  userId: string
  /** The parent minting the key for its child userId (or while acting as it); omitted or null: none. */
  actorId?: string | null
  /** SHA-256 of the whole secret key. */
  hash: Buffer
  prefix: string
  name?: string | null
  scopes?: string[] | null
  expiresAt?: Date | null
}

export interface Page<T> {
  items: T[]
  /** Pass back as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null
}

export interface PageRequest {
  cursor?: string | null
  take?: number
  /** Creation order: oldest first (default) or newest first. */
  order?: 'asc' | 'desc'
}
