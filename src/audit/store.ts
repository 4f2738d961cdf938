import { InvalidCursorError, InvalidValueError } from '../store/errors.js'
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../store/store.js'
import type { Database, Page } from '../store/types.js'
import type { EntryKind, LogEntry } from './entry.js'

/** Filters of `GET /admin/v1/audit/list` and `keygate audit`. */
export interface AuditFilter {
  decisionId?: string
  /** Subject or actor. */
  userId?: string
  keyId?: string
  status?: number
  kind?: EntryKind
  /** Inclusive lower bound. */
  from?: Date
  /** Exclusive upper bound. */
  to?: Date
  cursor?: string | null
  take?: number
}

export interface DailyUsage {
  keyId: string
  /** UTC day, YYYY-MM-DD. */
  day: string
  requests: number
  denied: number
  lastUsedAt: Date
}

export interface KeyUsageReport {
  keyId: string
  lastUsedAt: Date | null
  /** Every request counted since the key was created (kept with the key). */
  requests: number
  days: Array<{ day: string; requests: number; denied: number; lastUsedAt: Date }>
}

/** Rows per INSERT, which bounds the size of one statement's parameter. */
const MAX_ROWS_PER_INSERT = 4_000

/**
 * The audit tables (migrations/003_audit.sql): decision log and security
 * events in keygate_decisions, daily key usage in keygate_key_usage_daily.
 */
export class AuditStore {
  readonly #db: Database

  constructor (db: Database) {
    this.#db = db
  }

  /**
   * Inserts in one statement per MAX_ROWS_PER_INSERT entries, each chunk sent
   * as a single JSON parameter and unpacked by the server (a VALUES list of
   * 15 parameters a row cost more to encode here and to parse and plan there);
   * an entry already written (same id, a retried batch) is skipped.
   */
  async insert (entries: readonly LogEntry[]): Promise<void> {
    for (let start = 0; start < entries.length; start += MAX_ROWS_PER_INSERT) {
      const chunk = entries.slice(start, start + MAX_ROWS_PER_INSERT)
      // PostgreSQL text and jsonb cannot hold NUL (rarely there: look before replacing).
      let json = JSON.stringify(chunk)
      if (json.includes('\\u0000')) json = json.replace(/\\u0000/g, '')
      await this.#db.query(
        `INSERT INTO keygate_decisions (id, kind, event, decision_id, "timestamp", status, code, credential_type, key_id,
           key_prefix, subject, actor, client_address, reason_codes, entry)
         SELECT e->>'id', e->>'kind', CASE WHEN e->>'kind' = 'security' THEN e->>'event' END, e->>'decision_id',
                (e->>'timestamp')::timestamptz, (e->>'status')::smallint, e->>'code', e->>'credential_type', e->>'key_id',
                e->>'key_prefix', e->>'subject', e->>'actor', e->>'client_address',
                ARRAY(SELECT r.code FROM jsonb_array_elements_text(e->'reason_codes') WITH ORDINALITY AS r (code, n) ORDER BY r.n),
                e
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS batch (e, n)
         ORDER BY batch.n
         ON CONFLICT (id) DO NOTHING`,
        [json])
    }
  }

  /** Newest first; `cursor` continues where the previous page ended. */
  async list (filter: AuditFilter = {}): Promise<Page<LogEntry>> {
    const take = pageSize(filter.take)
    const where: string[] = []
    const params: unknown[] = []
    const bind = (value: unknown): string => { params.push(value); return `$${params.length}` }
    if (filter.decisionId !== undefined) where.push(`decision_id = ${bind(filter.decisionId)}`)
    if (filter.userId !== undefined) {
      const user = bind(filter.userId)
      where.push(`(subject = ${user} OR actor = ${user})`)
    }
    if (filter.keyId !== undefined) where.push(`key_id = ${bind(filter.keyId)}`)
    if (filter.status !== undefined) where.push(`status = ${bind(filter.status)}::smallint`)
    if (filter.kind !== undefined) where.push(`kind = ${bind(filter.kind)}`)
    if (filter.from !== undefined) where.push(`"timestamp" >= ${bind(filter.from)}::timestamptz`)
    if (filter.to !== undefined) where.push(`"timestamp" < ${bind(filter.to)}::timestamptz`)
    const after = decodeCursor(filter.cursor)
    if (after !== null) where.push(`("timestamp", id) < (${bind(after.timestamp)}::timestamptz, ${bind(after.id)}::text)`)
    const rows = (await this.#db.query<{ id: string; timestamp: Date; entry: LogEntry | string }>(
      `SELECT id, "timestamp", entry FROM keygate_decisions
       ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
       ORDER BY "timestamp" DESC, id DESC
       LIMIT ${bind(take + 1)}`,
      params)).rows
    const page = rows.slice(0, take)
    const last = page.at(-1)
    return {
      items: page.map((row) => typeof row.entry === 'string' ? JSON.parse(row.entry) as LogEntry : row.entry),
      nextCursor: rows.length > take && last !== undefined ? encodeCursor(new Date(last.timestamp), last.id) : null
    }
  }

  /**
   * Deletes decision-log rows and daily usage older than `before`, at most
   * `batchSize` rows per statement so that no statement holds locks for long.
   * Returns how many decision-log rows were deleted.
   */
  async deleteOlderThan (before: Date, options: { batchSize?: number; maxBatches?: number; pauseMs?: number } = {}): Promise<number> {
    const batchSize = options.batchSize ?? 1_000
    const maxBatches = options.maxBatches ?? 1_000
    let deleted = 0
    for (let batch = 0; batch < maxBatches; batch++) {
      const { rows } = await this.#db.query<{ id: string }>(
        `DELETE FROM keygate_decisions WHERE id IN (
           SELECT id FROM keygate_decisions WHERE "timestamp" < $1::timestamptz ORDER BY "timestamp" LIMIT $2
         ) RETURNING id`,
        [before, batchSize])
      deleted += rows.length
      if (rows.length < batchSize) break
      if (options.pauseMs !== undefined && options.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, options.pauseMs))
    }
    const day = before.toISOString().slice(0, 10)
    for (let batch = 0; batch < maxBatches; batch++) {
      const { rows } = await this.#db.query<{ key_id: string }>(
        `DELETE FROM keygate_key_usage_daily WHERE (key_id, day) IN (
           SELECT key_id, day FROM keygate_key_usage_daily WHERE day < $1::date LIMIT $2
         ) RETURNING key_id`,
        [day, batchSize])
      if (rows.length < batchSize) break
    }
    return deleted
  }

  /** Adds to the daily counts, in one statement; rows are locked in key order so that instances cannot deadlock. */
  async addDailyUsage (usage: readonly DailyUsage[]): Promise<void> {
    if (usage.length === 0) return
    const rows = [...usage]
      .sort((a, b) => a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : a.day < b.day ? -1 : a.day > b.day ? 1 : 0)
      .map((u) => ({ key_id: u.keyId, day: u.day, requests: u.requests, denied: u.denied, last_used_at: u.lastUsedAt.toISOString() }))
    await this.#db.query(
      `INSERT INTO keygate_key_usage_daily AS d (key_id, day, requests, denied, last_used_at)
       SELECT key_id, day, requests, denied, last_used_at
       FROM jsonb_to_recordset($1::jsonb) AS u (key_id text, day date, requests bigint, denied bigint, last_used_at timestamptz)
       ON CONFLICT (key_id, day) DO UPDATE SET
         requests = d.requests + excluded.requests,
         denied = d.denied + excluded.denied,
         last_used_at = GREATEST(d.last_used_at, excluded.last_used_at)`,
      [JSON.stringify(rows)])
  }

  /** A key's totals and its daily counts from `since` (a UTC day) on, newest first; null when the key is unknown. */
  async keyUsage (keyId: string, since: string): Promise<KeyUsageReport | null> {
    if (!/^key_[0-9A-Za-z]{20}$/.test(keyId)) return null
    const { rows: keys } = await this.#db.query<{ last_used_at: Date | null; use_count: string | number }>(
      'SELECT last_used_at, use_count FROM keygate_keys WHERE id = $1', [keyId])
    const key = keys[0]
    if (key === undefined) return null
    const { rows } = await this.#db.query<{ day: string; requests: string | number; denied: string | number; last_used_at: Date }>(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, requests, denied, last_used_at FROM keygate_key_usage_daily
       WHERE key_id = $1 AND day >= $2::date ORDER BY day DESC`,
      [keyId, since])
    return {
      keyId,
      lastUsedAt: key.last_used_at === null ? null : new Date(key.last_used_at),
      requests: Number(key.use_count),
      days: rows.map((r) => ({ day: r.day, requests: Number(r.requests), denied: Number(r.denied), lastUsedAt: new Date(r.last_used_at) }))
    }
  }
}

function pageSize (take: number | undefined): number {
  if (take === undefined) return DEFAULT_PAGE_SIZE
  if (!Number.isSafeInteger(take) || take < 1) throw new InvalidValueError(`take must be a positive integer, got ${String(take)}`)
  return Math.min(take, MAX_PAGE_SIZE)
}

/** A cursor is the base64url of `<timestamp>|<id>` of the last row of the previous page (timestamps are kept to the millisecond). */
function encodeCursor (timestamp: Date, id: string): string {
  return Buffer.from(`${timestamp.toISOString()}|${id}`, 'utf8').toString('base64url')
}

function decodeCursor (cursor: string | null | undefined): { timestamp: string; id: string } | null {
  if (cursor === undefined || cursor === null) return null
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : ''
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([A-Za-z0-9_-]{1,64})$/.exec(text)
  if (match === null || Number.isNaN(Date.parse(match[1] as string))) throw new InvalidCursorError('malformed cursor')
  return { timestamp: match[1] as string, id: match[2] as string }
}
