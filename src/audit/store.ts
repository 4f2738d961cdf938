import { sqlStateOf } from '../store/driver-shared.js'
import { InvalidCursorError, InvalidValueError } from '../store/errors.js'
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../store/store.js'
import type { Database, Page } from '../store/types.js'
import type { EntryKind, LogEntry } from './entry.js'
import { copyLine, entryOf, rowOf, type Row, type StoredPart } from './row.js'

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

/** Rows per INSERT (the embedded store's path, and the fallback), which bounds the size of one statement's parameter. */
const MAX_ROWS_PER_INSERT = 4_000
const DAY_MS = 86_400_000
const COLUMNS = '"timestamp", id, kind, event, decision_id, status, code, credential_type, key_id, key_prefix, subject, actor, client_address, reason_codes, input_hash, template_hash, entry'
/** unique_violation: a retried or replayed entry already written; check_violation: no partition for a row. */
const UNIQUE_VIOLATION = '23505'
const NO_PARTITION = '23514'
/** (day, hash) of inputs and templates written lately, so that a repeated one costs nothing but its reference. */
const KNOWN_PARTS_MAX = 50_000

/**
 * The audit tables (migrations/003_audit.sql, 008_decision_log_partitions.sql):
 * decision log and security events in keygate_decision_log, one partition per
 * UTC day, their policy inputs and memo hits' templates once per day and
 * content in keygate_decision_inputs and keygate_decision_templates
 * (012_decision_templates.sql); daily key usage in keygate_key_usage_daily.
 */
export class AuditStore {
  readonly #db: Database
  /** Days whose partitions exist (or were created by this process). */
  readonly #days = new Set<string>()
  readonly #parts = new Set<string>()

  constructor (db: Database) {
    this.#db = db
  }

  /**
   * Writes the entries, all or none: new inputs and templates first, then the rows in one
   * COPY (PostgreSQL) or one INSERT per MAX_ROWS_PER_INSERT entries (PGlite).
   * An entry already written (same id and time: a retried batch, a replayed
   * spool) is kept once: COPY refuses the batch, which is then inserted
   * skipping those.
   */
  async insert (entries: readonly LogEntry[]): Promise<void> {
    if (entries.length === 0) return
    const rows = entries.map(rowOf)
    await this.preparePartitions(new Set(rows.map((r) => r.day)))
    await this.#insertParts(rows)
    try {
      await this.#insertRows(rows)
    } catch (error) {
      if (sqlStateOf(error) !== NO_PARTITION) throw error
      // Another instance dropped a day we knew of (retention of old entries): look again.
      this.#days.clear()
      this.#parts.clear()
      await this.preparePartitions(new Set(rows.map((r) => r.day)))
      await this.#insertParts(rows)
      await this.#insertRows(rows)
    }
  }

  /** Creates the partitions of these UTC days (YYYY-MM-DD) that do not exist yet. */
  async preparePartitions (days: Iterable<string>): Promise<void> {
    for (const day of days) {
      if (this.#days.has(day)) continue
      await this.#db.query('SELECT keygate_decision_log_partition($1::date)', [day])
      this.#days.add(day)
    }
  }

  /** The partitions of `at`'s UTC day and of the next: created ahead, so that no batch waits on DDL at midnight. */
  async prepareDaysAround (at: number): Promise<void> {
    await this.preparePartitions([utcDay(at), utcDay(at + DAY_MS)])
  }

  async #insertParts (rows: readonly Row[]): Promise<void> {
    await this.#insertNew(rows, 'input', 'keygate_decision_inputs', 'input')
    await this.#insertNew(rows, 'template', 'keygate_decision_templates', 'entry')
  }

  /** The rows' parts of this kind not written lately, in one statement. */
  async #insertNew (rows: readonly Row[], part: 'input' | 'template', table: string, column: string): Promise<void> {
    const fresh = new Map<string, { day: string; hash: string; text: string }>()
    // The rows of one memo entry share their parts (and mostly their day): each is looked up once.
    let last: StoredPart | null = null
    let lastDay = ''
    for (const row of rows) {
      const stored = row[part]
      if (stored === null || (stored === last && row.day === lastDay)) continue
      last = stored
      lastDay = row.day
      const known = `${part}|${row.day}|${stored.hash}`
      if (!this.#parts.has(known)) fresh.set(known, { day: row.day, hash: stored.hash, text: stored.text })
    }
    if (fresh.size === 0) return
    await this.#db.query(
      `INSERT INTO ${table} (day, hash, ${column})
       SELECT day, hash, text FROM json_to_recordset($1::json) AS p (day date, hash text, text text)
       ON CONFLICT (day, hash) DO NOTHING`,
      [JSON.stringify([...fresh.values()])])
    if (this.#parts.size + fresh.size > KNOWN_PARTS_MAX) this.#parts.clear()
    for (const known of fresh.keys()) this.#parts.add(known)
  }

  async #insertRows (rows: readonly Row[]): Promise<void> {
    const db = this.#db
    if (db.copyFrom !== undefined) {
      let data = ''
      for (const row of rows) data += row.copy ?? copyLine(row.columns)
      try {
        await db.copyFrom(`COPY keygate_decision_log (${COLUMNS}) FROM STDIN`, data)
        return
      } catch (error) {
        if (sqlStateOf(error) !== UNIQUE_VIOLATION) throw error
      }
    }
    for (let start = 0; start < rows.length; start += MAX_ROWS_PER_INSERT) {
      const chunk = rows.slice(start, start + MAX_ROWS_PER_INSERT).map((r) => r.columns)
      await db.query(
        `INSERT INTO keygate_decision_log (${COLUMNS})
         SELECT (r->>0)::timestamptz, r->>1, r->>2, r->>3, r->>4, (r->>5)::smallint, r->>6, r->>7, r->>8, r->>9, r->>10, r->>11, r->>12,
                ARRAY(SELECT c.code FROM json_array_elements_text(r->13) WITH ORDINALITY AS c (code, n) ORDER BY c.n),
                r->>14, r->>15, r->>16
         FROM json_array_elements($1::json) WITH ORDINALITY AS batch (r, n)
         ORDER BY batch.n
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(chunk)])
    }
  }

  /** Newest first; `cursor` continues where the previous page ended. */
  async list (filter: AuditFilter = {}): Promise<Page<LogEntry>> {
    const take = pageSize(filter.take)
    const where: string[] = []
    const params: unknown[] = []
    const bind = (value: unknown): string => { params.push(value); return `$${params.length}` }
    if (filter.decisionId !== undefined) where.push(`decision_id = ${bind(filter.decisionId)}`)
    if (filter.keyId !== undefined) where.push(`key_id = ${bind(filter.keyId)}`)
    if (filter.status !== undefined) where.push(`status = ${bind(filter.status)}::smallint`)
    if (filter.kind !== undefined) where.push(`kind = ${bind(filter.kind)}`)
    if (filter.from !== undefined) where.push(`"timestamp" >= ${bind(filter.from)}::timestamptz`)
    if (filter.to !== undefined) where.push(`"timestamp" < ${bind(filter.to)}::timestamptz`)
    const after = decodeCursor(filter.cursor)
    if (after !== null) where.push(`("timestamp", id) < (${bind(after.timestamp)}::timestamptz, ${bind(after.id)}::text)`)
    const limit = bind(take + 1)
    const select = (extra: string[]): string => {
      const all = [...where, ...extra]
      return `SELECT "timestamp", id, decision_id, client_address, input_hash, template_hash, entry FROM keygate_decision_log
        ${all.length === 0 ? '' : `WHERE ${all.join(' AND ')}`}
        ORDER BY "timestamp" DESC, id DESC LIMIT ${limit}`
    }
    let page: string
    if (filter.userId === undefined) {
      page = select([])
    } else {
      // Subject or actor: two ordered index scans merged, rather than every row of the user sorted.
      const user = bind(filter.userId)
      page = `SELECT DISTINCT ON ("timestamp", id) * FROM ((${select([`subject = ${user}`])}) UNION ALL (${select([`actor = ${user}`])})) AS u
        ORDER BY "timestamp" DESC, id DESC LIMIT ${limit}`
    }
    const rows = (await this.#db.query<{ id: string; decision_id: string; timestamp: Date; client_address: string | null; entry: string; input: string | null; template: string | null }>(
      // A subquery per row, not a join: each finds its day's partition at run time and probes its key,
      // where a join reads every day's inputs (11 ms against 0.5 ms with 30 days of them).
      `SELECT p.id, p.decision_id, p."timestamp", p.client_address, p.entry,
         (SELECT i.input FROM keygate_decision_inputs i WHERE i.day = (p."timestamp" AT TIME ZONE 'UTC')::date AND i.hash = p.input_hash) AS input,
         (SELECT t.entry FROM keygate_decision_templates t WHERE t.day = (p."timestamp" AT TIME ZONE 'UTC')::date AND t.hash = p.template_hash) AS template
       FROM (${page}) AS p
       ORDER BY p."timestamp" DESC, p.id DESC`,
      params)).rows
    const items = rows.slice(0, take)
    const last = items.at(-1)
    return {
      items: items.map((row) => entryOf(row.entry, row.input, shortRowTemplate(row))),
      nextCursor: rows.length > take && last !== undefined ? encodeCursor(new Date(last.timestamp), last.id) : null
    }
  }

  /**
   * Drops the days of the decision log that ended by `before` (whole UTC
   * days: a day is kept until all of it is past), then deletes daily usage
   * older than `before`, at most `batchSize` rows per statement. Returns how
   * many decision-log rows were dropped.
   */
  async deleteOlderThan (before: Date, options: { batchSize?: number } = {}): Promise<number> {
    const { rows: partitions } = await this.#db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'keygate_decision_log'::regclass ORDER BY c.relname`)
    let deleted = 0
    for (const { name } of partitions) {
      const match = /^keygate_decision_log_p(\d{4})(\d{2})(\d{2})$/.exec(name)
      if (match === null) continue
      const day = `${match[1]}-${match[2]}-${match[3]}`
      if (Date.parse(`${day}T00:00:00Z`) + DAY_MS > before.getTime()) break
      deleted += await this.#db.transaction(async (tx) => {
        const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name}`)
        await tx.query(`DROP TABLE ${name}`)
        await tx.query(`DROP TABLE IF EXISTS keygate_decision_inputs_p${match[1]}${match[2]}${match[3]}`)
        await tx.query(`DROP TABLE IF EXISTS keygate_decision_templates_p${match[1]}${match[2]}${match[3]}`)
        return rows[0]?.n ?? 0
      })
      this.#days.delete(day)
    }
    const batchSize = options.batchSize ?? 1_000
    const day = before.toISOString().slice(0, 10)
    for (;;) {
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

  /** The daily counts of these keys from `since` (a UTC day) on, newest first; a key without any has none in the map. */
  async dailyUsage (keyIds: readonly string[], since: string): Promise<Map<string, KeyUsageReport['days']>> {
    const byKey = new Map<string, KeyUsageReport['days']>()
    if (keyIds.length === 0) return byKey
    const { rows } = await this.#db.query<{ key_id: string; day: string; requests: string | number; denied: string | number; last_used_at: Date }>(
      `SELECT key_id, to_char(day, 'YYYY-MM-DD') AS day, requests, denied, last_used_at FROM keygate_key_usage_daily
       WHERE key_id = ANY($1::text[]) AND day >= $2::date ORDER BY key_id, day DESC`,
      [keyIds, since])
    for (const r of rows) {
      const days = byKey.get(r.key_id) ?? []
      days.push({ day: r.day, requests: Number(r.requests), denied: Number(r.denied), lastUsedAt: new Date(r.last_used_at) })
      byKey.set(r.key_id, days)
    }
    return byKey
  }

  /**
   * What the decision log holds from `from` on, counted: decisions by status
   * and security events by event, every instance's (allowed reads may have
   * been sampled out under pressure; denials and faults never are).
   */
  async countsSince (from: Date): Promise<{ decisions: Array<{ status: number; count: number }>; securityEvents: Array<{ event: string; count: number }> }> {
    const { rows } = await this.#db.query<{ kind: string; status: number | null; event: string | null; count: string | number }>(
      `SELECT kind, CASE WHEN kind = 'decision' THEN status END AS status, event, count(*) AS count FROM keygate_decision_log
       WHERE "timestamp" >= $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      [from])
    return {
      decisions: rows.filter((r) => r.kind === 'decision').map((r) => ({ status: Number(r.status), count: Number(r.count) })),
      securityEvents: rows.filter((r) => r.kind === 'security').map((r) => ({ event: r.event ?? '', count: Number(r.count) }))
    }
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

/** What a short row's entry is completed with (migrations/012_decision_templates.sql); null for a whole one. */
function shortRowTemplate (row: { id: string; decision_id: string; timestamp: Date; client_address: string | null; template: string | null }): Parameters<typeof entryOf>[2] {
  if (row.template === null) return null
  return {
    text: row.template,
    columns: { id: row.id, decision_id: row.decision_id, timestamp: new Date(row.timestamp).toISOString(), client_address: row.client_address }
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

function utcDay (at: number): string {
  return new Date(at).toISOString().slice(0, 10)
}
