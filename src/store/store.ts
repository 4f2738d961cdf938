import { canonicalEmail, isEmail } from '../lib/email.js'
import type { CounterRow, Limits } from '../limits/limits.js'
import { isRestriction, RESTRICTION_LIST } from '../policy/restrictions.js'
import { sqlStateOf } from './driver-shared.js'
import { InvalidCursorError, InvalidValueError, StoreConflictError, StoreNotFoundError } from './errors.js'
import { newId } from './ids.js'
import { afterCursor, decodeCursor, orderBy, pageSize, toPage } from './pagination.js'
import type { Database, KeyAgeFilter, KeyRecord, NewKey, NewUser, Page, PageRequest, UserRecord } from './types.js'

/** The LISTEN channel on which the database announces changes (see migrations/001_users_and_keys.sql). */
export const CHANGES_CHANNEL = 'keygate_changes'

/** A change announced on CHANGES_CHANNEL: drop what a cache holds about it. */
export type StoreChange =
  | { type: 'user'; id: string; parentId: string | null }
  | { type: 'key'; id: string; userId: string; hash: Buffer }

export interface UserPatch {
  /** null clears the name. */
  name?: string | null
  email?: string
  /** Replaces every flag; stored as a sorted set. */
  restrictions?: string[]
  disabled?: boolean
  role?: 'user' | 'admin'
}

export interface KeyUsage {
  id: string
  lastUsedAt: Date
  count: number
}

export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './pagination.js'

const USER_COLUMNS = 'id, email, name, parent_id, role, restrictions, disabled, created_at, updated_at, deleted_at, limits'
const KEY_COLUMNS = 'id, user_id, actor_id, name, prefix, scopes, created_at, updated_at, expires_at, revoked_at, last_used_at, use_count, limits'

const KEY_COLUMNS_OF_K = KEY_COLUMNS.split(', ').map((column) => `k.${column}`).join(', ')
const USER_COLUMN_NAMES = USER_COLUMNS.split(', ')
const OWNER_COLUMNS = USER_COLUMN_NAMES.map((column) => `u.${column} AS owner_${column}`).join(', ')
const ACTOR_COLUMNS = USER_COLUMN_NAMES.map((column) => `a.${column} AS actor_${column}`).join(', ')

const ID_FORMAT = { usr: /^usr_[0-9A-Za-z]{20}$/, key: /^key_[0-9A-Za-z]{20}$/ }

interface UserRow {
  id: string
  email: string
  name: string | null
  parent_id: string | null
  role: 'user' | 'admin'
  restrictions: string[]
  disabled: boolean
  created_at: Date
  updated_at: Date
  deleted_at: Date | null
  limits: Limits | null
}

/** A user's columns under a prefix (`owner_`, `actor_`), beside a key's. */
type PrefixedUserRow<P extends string> = { [column in keyof UserRow as `${P}${column}`]: UserRow[column] | null }

/** The user under `prefix` in a joined row; null when the join found none. */
function prefixedUser<P extends string> (row: PrefixedUserRow<P>, prefix: P): UserRecord | null {
  const columns = row as Record<string, unknown>
  if (columns[`${prefix}id`] === null) return null
  return toUser(Object.fromEntries(USER_COLUMN_NAMES.map((column) => [column, columns[`${prefix}${column}`]])) as unknown as UserRow)
}

interface KeyRow {
  id: string
  user_id: string
  actor_id: string | null
  name: string | null
  prefix: string
  scopes: string[] | null
  created_at: Date
  updated_at: Date
  expires_at: Date | null
  revoked_at: Date | null
  last_used_at: Date | null
  /** bigint: a string from pg, a number or bigint from PGlite. */
  use_count: string | number | bigint
  limits: Limits | null
}

/**
 * Accounts and secret keys in PostgreSQL or PGlite: every query of the
 * application is here, parameterized. Infrastructure failures surface as
 * StoreUnavailableError (from the Database); refused data as the other coded
 * errors of ./errors.ts.
 */
export class Store {
  readonly database: Database

  constructor (database: Database) {
    this.database = database
  }

  /**
   * Runs fn with a Store on one transaction: committed if fn resolves, rolled
   * back if it throws. `lock` first takes that transaction-level advisory lock,
   * so that two such transactions run one after the other. Changes are
   * announced (NOTIFY) at commit.
   */
  async transaction<T>(fn: (store: Store) => Promise<T>, options: { lock?: number } = {}): Promise<T> {
    const { driver } = this.database
    return await this.database.transaction(async (tx) => {
      if (options.lock !== undefined) await tx.query('SELECT pg_advisory_xact_lock($1)', [options.lock])
      const inTransaction: Database = {
        driver,
        query: async (sql, params) => await tx.query(sql, params),
        // In a transaction, everything reads what the transaction sees.
        read: async (sql, params) => await tx.query(sql, params),
        exec: async (sql) => { await tx.exec(sql) },
        transaction: async () => { throw new TypeError('Store.transaction: already in a transaction') },
        listen: async () => { throw new TypeError('Store.transaction: cannot listen in a transaction') },
        close: async () => {}
      }
      return await fn(new Store(inTransaction))
    })
  }

  // ── Users ──────────────────────────────────────────────────────────────

  /** @throws StoreConflictError (EMAIL_TAKEN), StoreNotFoundError (parent unknown or deleted), InvalidValueError */
  async createUser (user: NewUser): Promise<UserRecord> {
    const parentId = user.parentId ?? null
    const [row] = await this.#query<UserRow>(
      `INSERT INTO keygate_users (id, email, email_canonical, name, parent_id, role)
       SELECT $1::text, $2::text, $6::text, $3::text, $4::text, $5::text
       WHERE $4::text IS NULL OR EXISTS (SELECT 1 FROM keygate_users WHERE id = $4::text AND deleted_at IS NULL)
       RETURNING ${USER_COLUMNS}`,
      [newId('usr'), user.email, user.name ?? null, parentId, user.role ?? 'user', storableEmail(user.email)])
    if (row === undefined) throw new StoreNotFoundError(`parent account ${parentId} does not exist`)
    return toUser(row)
  }

  /** Deleted users too (status 'deleted'); null when unknown. */
  async findUserById (id: string): Promise<UserRecord | null> {
    // Ids come from headers too: one that cannot exist costs no query.
    if (!ID_FORMAT.usr.test(id)) return null
    const [row] = await this.#read<UserRow>(`SELECT ${USER_COLUMNS} FROM keygate_users WHERE id = $1`, [id])
    return row === undefined ? null : toUser(row)
  }

  /**
   * The child of parentId with this e-mail, compared in canonical form
   * (src/lib/email.ts). The live child if there is one, else the most recently deleted.
   */
  async findChildByEmail (parentId: string, email: string): Promise<UserRecord | null> {
    // An address outside the grammar (a NUL, which PostgreSQL text cannot hold, included) names nobody.
    if (!ID_FORMAT.usr.test(parentId) || !isEmail(email)) return null
    const [row] = await this.#read<UserRow>(
      `SELECT ${USER_COLUMNS} FROM keygate_users
       WHERE parent_id = $1 AND email_canonical = $2
       ORDER BY deleted_at IS NOT NULL, deleted_at DESC
       LIMIT 1`,
      [parentId, canonicalEmail(email)])
    return row === undefined ? null : toUser(row)
  }

  /**
   * Live (not deleted) top-level accounts (parentId null) or children of parentId,
   * oldest first (or newest, `order: 'desc'`); `email` keeps the one with that address.
   */
  async listUsers (filter: { parentId: string | null; email?: string } & PageRequest): Promise<Page<UserRecord>> {
    const { parentId, order } = filter
    const take = pageSize(filter.take)
    const after = decodeCursor(filter.cursor, ID_FORMAT.usr)
    if (after !== null) {
      const found = await this.#query('SELECT 1 FROM keygate_users WHERE id = $1 AND parent_id IS NOT DISTINCT FROM $2::text', [after, parentId])
      if (found.length === 0) throw new InvalidCursorError('this cursor does not belong to this list')
    }
    // PostgreSQL text cannot hold NUL: such an address names nobody.
    if (filter.email?.includes('\0') === true) return { items: [], nextCursor: null }
    const rows = await this.#query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM keygate_users
       WHERE ${parentId === null ? '$3::text IS NULL AND parent_id IS NULL' : 'parent_id = $3::text'} AND deleted_at IS NULL
         AND ($4::text IS NULL OR email_canonical = $4::text)
         AND ${afterCursor('keygate_users', order)}
       ${orderBy(order)}
       LIMIT $2`,
      [after, take + 1, parentId, filter.email === undefined ? null : canonicalEmail(filter.email)])
    return toPage(rows, take, toUser)
  }

  /**
   * Changes the fields present in patch; null when the user is unknown or deleted.
   * @throws StoreConflictError (EMAIL_TAKEN), InvalidValueError
   */
  async updateUser (id: string, patch: UserPatch): Promise<UserRecord | null> {
    patch.restrictions?.forEach(knownRestriction)
    const [row] = await this.#query<UserRow>(
      `UPDATE keygate_users SET
         name = CASE WHEN $2::boolean THEN $3::text ELSE name END,
         email = coalesce($4::text, email),
         email_canonical = coalesce($8::text, email_canonical),
         restrictions = coalesce($5::text[], restrictions),
         disabled = coalesce($6::boolean, disabled),
         role = coalesce($7::text, role),
         updated_at = now()
       WHERE id = $1 AND deleted_at IS NULL
       RETURNING ${USER_COLUMNS}`,
      [id, patch.name !== undefined, patch.name ?? null, patch.email ?? null,
        patch.restrictions === undefined ? null : [...new Set(patch.restrictions)].sort(),
        patch.disabled ?? null, patch.role ?? null, patch.email === undefined ? null : storableEmail(patch.email)])
    return row === undefined ? null : toUser(row)
  }

  /** Idempotent; null when the user is unknown or deleted. @throws InvalidValueError for an unknown flag */
  async addRestriction (id: string, flag: string): Promise<UserRecord | null> {
    knownRestriction(flag)
    return await this.#setRestrictions(id, flag,
      // Sorted byte-wise ("C"), as JavaScript sorts them in updateUser.
      'ARRAY(SELECT DISTINCT f COLLATE "C" FROM unnest(array_append(restrictions, $2::text)) AS f ORDER BY 1)')
  }

  /** Idempotent; null when the user is unknown or deleted. Any flag, so that one set by hand in SQL can be taken off. */
  async removeRestriction (id: string, flag: string): Promise<UserRecord | null> {
    return await this.#setRestrictions(id, flag, 'array_remove(restrictions, $2::text)')
  }

  /** Sets (or, with null, clears) an account's rate limit and quota; null when the user is unknown or deleted. */
  async setUserLimits (id: string, limits: Limits | null): Promise<UserRecord | null> {
    const [row] = await this.#query<UserRow>(
      `UPDATE keygate_users SET limits = $2::jsonb, updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING ${USER_COLUMNS}`,
      [id, limits === null ? null : JSON.stringify(limits)])
    return row === undefined ? null : toUser(row)
  }

  /** Sets (or clears) a key's rate limit and quota; null when the key is unknown or revoked. */
  async setKeyLimits (id: string, limits: Limits | null): Promise<KeyRecord | null> {
    const [row] = await this.#query<KeyRow>(
      `UPDATE keygate_keys SET limits = $2::jsonb, updated_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING ${KEY_COLUMNS}`,
      [id, limits === null ? null : JSON.stringify(limits)])
    return row === undefined ? null : toKey(row)
  }

  /** Soft delete: the user stays findable with status 'deleted' and all its keys are revoked. False when unknown or already deleted. */
  async deleteUser (id: string): Promise<boolean> {
    const rows = await this.#query(
      `WITH deleted AS (
         UPDATE keygate_users SET deleted_at = now(), updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL
         RETURNING id
       ), revoked AS (
         UPDATE keygate_keys SET revoked_at = now()
         WHERE user_id IN (SELECT id FROM deleted) AND revoked_at IS NULL
       )
       SELECT id FROM deleted`,
      [id])
    return rows.length > 0
  }

  /** Every account ever created, deleted ones included (so "empty store" means never used). */
  async countUsers (): Promise<number> {
    const [row] = await this.#query<{ count: number }>('SELECT count(*)::int AS count FROM keygate_users')
    return row?.count ?? 0
  }

  // ── Keys ───────────────────────────────────────────────────────────────

  /** @throws StoreNotFoundError (owner unknown or deleted), InvalidValueError */
  async createKey (key: NewKey): Promise<KeyRecord> {
    const [row] = await this.#query<KeyRow>(
      `INSERT INTO keygate_keys (id, user_id, hash, prefix, name, scopes, expires_at, actor_id)
       SELECT $1::text, $2::text, $3::bytea, $4::text, $5::text, $6::text[], $7::timestamptz, $8::text
       WHERE EXISTS (SELECT 1 FROM keygate_users WHERE id = $2::text AND deleted_at IS NULL)
         AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM keygate_users WHERE id = $8::text AND deleted_at IS NULL))
       RETURNING ${KEY_COLUMNS}`,
      [newId('key'), key.userId, key.hash, key.prefix, key.name ?? null, key.scopes ?? null, key.expiresAt ?? null, key.actorId ?? null])
    if (row === undefined) throw new StoreNotFoundError(`user ${key.userId} (or actor ${key.actorId ?? '-'}) does not exist`)
    return toKey(row)
  }

  /**
   * The key with this SHA-256 (revoked and expired keys included: judging
   * them is the caller's job) and, in the same round trip, its owner and its
   * actor (null when it has none, or the row is gone): the cold path of
   * every decision.
   */
  async findKeyByHash (hash: Buffer): Promise<(KeyRecord & { hash: Buffer; owner: UserRecord | null; actor: UserRecord | null }) | null> {
    const [row] = await this.#read<KeyRow & { hash: Buffer } & PrefixedUserRow<'owner_'> & PrefixedUserRow<'actor_'>>(
      `SELECT ${KEY_COLUMNS_OF_K}, k.hash, ${OWNER_COLUMNS}, ${ACTOR_COLUMNS}
       FROM keygate_keys k LEFT JOIN keygate_users u ON u.id = k.user_id LEFT JOIN keygate_users a ON a.id = k.actor_id
       WHERE k.hash = $1::bytea`, [hash])
    if (row === undefined) return null
    return { ...toKey(row), hash: row.hash, owner: prefixedUser(row, 'owner_'), actor: prefixedUser(row, 'actor_') }
  }

  async findKeyById (id: string): Promise<KeyRecord | null> {
    if (!ID_FORMAT.key.test(id)) return null
    const [row] = await this.#query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM keygate_keys WHERE id = $1`, [id])
    return row === undefined ? null : toKey(row)
  }

  /** The user's keys that are not revoked (expired ones included), oldest first (or newest, `order: 'desc'`). */
  async listKeys (userId: string, page: PageRequest = {}, filter: KeyAgeFilter = {}): Promise<Page<KeyRecord>> {
    const take = pageSize(page.take)
    const after = decodeCursor(page.cursor, ID_FORMAT.key)
    if (after !== null) {
      const found = await this.#query('SELECT 1 FROM keygate_keys WHERE id = $1 AND user_id = $2', [after, userId])
      if (found.length === 0) throw new InvalidCursorError('this cursor does not belong to this list')
    }
    const rows = await this.#query<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM keygate_keys
       WHERE user_id = $3 AND revoked_at IS NULL AND ${afterCursor('keygate_keys', page.order)}
         AND ($4::timestamptz IS NULL OR COALESCE(last_used_at, created_at) < $4::timestamptz)
         AND ($5::timestamptz IS NULL OR created_at < $5::timestamptz)
       ${orderBy(page.order)}
       LIMIT $2`,
      [after, take + 1, userId, filter.notUsedSince ?? null, filter.createdBefore ?? null])
    return toPage(rows, take, toKey)
  }

  /** Renames a key that is not revoked; null when unknown or revoked. */
  async updateKey (id: string, patch: { name?: string | null }): Promise<KeyRecord | null> {
    const [row] = await this.#query<KeyRow>(
      `UPDATE keygate_keys SET
         name = CASE WHEN $2::boolean THEN $3::text ELSE name END,
         updated_at = now()
       WHERE id = $1 AND revoked_at IS NULL
       RETURNING ${KEY_COLUMNS}`,
      [id, patch.name !== undefined, patch.name ?? null])
    return row === undefined ? null : toKey(row)
  }

  /** False when the key is unknown or already revoked. */
  async revokeKey (id: string, at: Date = new Date()): Promise<boolean> {
    const rows = await this.#query(
      'UPDATE keygate_keys SET revoked_at = $2, updated_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id', [id, at])
    return rows.length > 0
  }

  /**
   * Makes the key expire at expiresAt at the latest: an earlier expiry stays
   * (rolling a key never extends it). False when unknown or revoked.
   */
  async setKeyExpiry (id: string, expiresAt: Date): Promise<boolean> {
    const rows = await this.#query(
      `UPDATE keygate_keys SET expires_at = LEAST(expires_at, $2::timestamptz), updated_at = now()
       WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
      [id, expiresAt])
    return rows.length > 0
  }

  /** Records key usage in one statement: last_used_at moves forward only, use_count adds up. Unknown ids are ignored. */
  async touchKeys (usage: KeyUsage[]): Promise<void> {
    const merged = new Map<string, { id: string; last_used_at: Date; count: number }>()
    for (const { id, lastUsedAt, count } of usage) {
      const seen = merged.get(id)
      if (seen === undefined) merged.set(id, { id, last_used_at: lastUsedAt, count })
      else merged.set(id, { id, last_used_at: lastUsedAt > seen.last_used_at ? lastUsedAt : seen.last_used_at, count: seen.count + count })
    }
    if (merged.size === 0) return
    // Rows are locked in id order, so that instances flushing at once cannot deadlock.
    await this.#query(
      `WITH usage AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS u (id text, last_used_at timestamptz, count bigint)
       ), locked AS (
         SELECT id FROM keygate_keys WHERE id IN (SELECT id FROM usage) ORDER BY id FOR UPDATE
       )
       UPDATE keygate_keys AS k SET
         last_used_at = GREATEST(k.last_used_at, usage.last_used_at),
         use_count = k.use_count + usage.count
       FROM usage, locked
       WHERE k.id = usage.id AND k.id = locked.id`,
      [JSON.stringify([...merged.values()])])
  }

  // ── Limit counters ─────────────────────────────────────────────────────

  /**
   * Adds what one instance admitted to the shared counters (src/limits) and
   * returns each one's total, every instance's included, in the order given.
   * Rows are written in key order, so that instances syncing at once cannot
   * deadlock.
   */
  async addLimitUsage (rows: readonly CounterRow[]): Promise<number[]> {
    if (rows.length === 0) return []
    const totals = await this.#query<{ counter: string; window_end: string; used: string }>(
      `INSERT INTO keygate_limit_counters AS c (counter, window_end, used)
       SELECT counter, window_end, used FROM jsonb_to_recordset($1::jsonb) AS r (counter text, window_end bigint, used bigint)
       ORDER BY counter, window_end
       ON CONFLICT (counter, window_end) DO UPDATE SET used = c.used + excluded.used
       RETURNING counter, window_end, used`,
      [JSON.stringify(rows.map((r) => ({ counter: r.counter, window_end: r.windowEnd, used: r.used })))])
    const byCounter = new Map(totals.map((t) => [`${t.window_end} ${t.counter}`, Number(t.used)]))
    return rows.map((r) => byCounter.get(`${r.windowEnd} ${r.counter}`) ?? r.used)
  }

  /** The shared counters of windows that end after `now` (epoch ms), at most `max` of them, the latest-ending first. */
  async currentLimitUsage (now: number, max: number): Promise<CounterRow[]> {
    const rows = await this.#query<{ counter: string; window_end: string; used: string }>(
      'SELECT counter, window_end, used FROM keygate_limit_counters WHERE window_end > $1 ORDER BY window_end DESC LIMIT $2',
      [now, max])
    return rows.map((r) => ({ counter: r.counter, windowEnd: Number(r.window_end), used: Number(r.used) }))
  }

  /** Deletes the shared counters of windows that ended before `before` (epoch ms). */
  async deleteLimitUsage (before: number): Promise<void> {
    await this.#query('DELETE FROM keygate_limit_counters WHERE window_end < $1', [before])
  }

  // ── Changes ────────────────────────────────────────────────────────────

  /**
   * Calls onChange for every change committed by any instance, from now until
   * the returned function is called. Changes that take rights away (revoke,
   * roll deadline, restrict, disable, delete, re-parent) are announced by
   * triggers (migrations/001_users_and_keys.sql), so SQL run by hand is too.
   * `onResync` is called when changes may have been missed (the listening
   * connection was lost and is back): drop everything cached.
   */
  async onChange (onChange: (change: StoreChange) => void, options: { onResync?: () => void, onLost?: () => void } = {}): Promise<() => Promise<void>> {
    return await this.database.listen(CHANGES_CHANNEL, (payload) => { onChange(parseChange(payload)) }, { onReconnect: options.onResync, onLost: options.onLost })
  }

  /** Closes the database this store was constructed with. */
  async close (): Promise<void> {
    await this.database.close()
  }

  async #setRestrictions (id: string, flag: string, restrictions: string): Promise<UserRecord | null> {
    const [row] = await this.#query<UserRow>(
      `UPDATE keygate_users SET restrictions = ${restrictions}, updated_at = now()
       WHERE id = $1 AND deleted_at IS NULL
       RETURNING ${USER_COLUMNS}`,
      [id, flag])
    return row === undefined ? null : toUser(row)
  }

  async #query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.database.query<R>(sql, params)).rows
    } catch (error) {
      throw refusal(error)
    }
  }

  /** The cold lookups (keys, accounts, children): a replica may answer (Database.read). */
  async #read<R>(sql: string, params: unknown[]): Promise<R[]> {
    return (await this.database.read<R>(sql, params)).rows
  }
}

/** The canonical form to store for an address, which must be in the grammar. @throws InvalidValueError */
function storableEmail (email: string): string {
  if (!isEmail(email)) throw new InvalidValueError('value refused: not an e-mail address in the accepted grammar')
  return canonicalEmail(email)
}

/** A refused value as the coded error it means; anything else unchanged. */
function refusal (error: unknown): unknown {
  const state = sqlStateOf(error)
  const { constraint, message } = error as { constraint?: unknown; message?: string }
  if (state === '23505' && typeof constraint === 'string' && constraint.endsWith('_email_key')) {
    return new StoreConflictError('another account under the same parent already uses this e-mail address', { cause: error })
  }
  // check_violation, or a data exception (class 22): a value PostgreSQL cannot store, such as a NUL character.
  if (state === '23514' || state?.startsWith('22') === true) {
    return new InvalidValueError(`value refused: ${message}`, { cause: error })
  }
  return error
}

/** Flags are checked here as well as in manage/, so that nothing writes one the policy does not know. */
function knownRestriction (flag: unknown): void {
  if (!isRestriction(flag)) throw new InvalidValueError(`unknown restriction ${JSON.stringify(flag)}: known ones are ${RESTRICTION_LIST}`)
}

function toUser (row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    parentId: row.parent_id,
    role: row.role,
    restrictions: row.restrictions,
    status: row.deleted_at !== null ? 'deleted' : row.disabled ? 'disabled' : 'active',
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    limits: row.limits ?? null
  }
}

function toKey (row: KeyRow): KeyRecord {
  return {
    id: row.id,
    userId: row.user_id,
    actorId: row.actor_id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    useCount: Number(row.use_count),
    limits: row.limits ?? null
  }
}

function parseChange (payload: string): StoreChange {
  const change = JSON.parse(payload) as { type: string; id: string; parentId?: string | null; userId?: string; hash?: string }
  return change.type === 'key'
    ? { type: 'key', id: change.id, userId: change.userId as string, hash: Buffer.from(change.hash as string, 'hex') }
    : { type: 'user', id: change.id, parentId: change.parentId ?? null }
}
