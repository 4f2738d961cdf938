import { InvalidCursorError } from '../../store/errors.js'
import { afterCursor, decodeCursor, orderBy, pageSize, toPage } from '../../store/pagination.js'
import type { Database, Page, PageRequest, SqlClient } from '../../store/types.js'
import { SESSION_ID } from './ids.js'

/** Instances drop a session from their verified-token cache when its id arrives on this channel. */
export const SESSIONS_CHANNEL = 'keygate_sessions'

export interface SessionRow {
  id: string
  user_id: string
  actor_id: string | null
  kid: string
  allowed_routes: string[] | null
  created_at: Date
  expires_at: Date
  revoked_at: Date | null
}

export interface NewSessionRow {
  id: string
  userId: string
  actorId: string | null
  kid: string
  allowedRoutes: string[] | null
  createdAt: Date
  expiresAt: Date
}

export type InsertOutcome = 'created' | 'user_not_found' | 'key_retired'

/**
 * Records a session, only for a live, enabled user (and actor, if any) and
 * only under the key that is active at this moment.
 */
export async function insertSession (db: SqlClient, row: NewSessionRow): Promise<InsertOutcome> {
  const { rows } = await db.query(
    `INSERT INTO keygate_sessions (id, user_id, kid, allowed_routes, created_at, expires_at, actor_id)
     SELECT $1, u.id, k.kid, $4::text[], $5, $6, $7::text
       FROM keygate_users u, keygate_signing_keys k
      WHERE u.id = $2 AND u.deleted_at IS NULL AND NOT u.disabled
        AND k.kid = $3 AND k.retired_at IS NULL
        AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM keygate_users a WHERE a.id = $7::text AND a.deleted_at IS NULL AND NOT a.disabled))
     RETURNING id`,
    [row.id, row.userId, row.kid, row.allowedRoutes, row.createdAt, row.expiresAt, row.actorId])
  if (rows.length === 1) return 'created'
  const { rows: [why] } = await db.query<{ key_active: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM keygate_signing_keys WHERE kid = $1 AND retired_at IS NULL) AS key_active', [row.kid])
  return why?.key_active === true ? 'user_not_found' : 'key_retired'
}

const COLUMNS = 'id, user_id, actor_id, kid, allowed_routes, created_at, expires_at, revoked_at'

/** The user's sessions that still work at `now` (neither ended nor expired), oldest first unless `order: 'desc'`. */
export async function listLiveSessions (db: SqlClient, userId: string, page: PageRequest, now: Date): Promise<Page<SessionRow>> {
  const take = pageSize(page.take)
  const after = decodeCursor(page.cursor, SESSION_ID)
  if (after !== null) {
    const { rows } = await db.query('SELECT 1 FROM keygate_sessions WHERE id = $1 AND user_id = $2', [after, userId])
    if (rows.length === 0) throw new InvalidCursorError('this cursor does not belong to this list')
  }
  const { rows } = await db.query<SessionRow>(
    `SELECT ${COLUMNS} FROM keygate_sessions
     WHERE user_id = $3 AND revoked_at IS NULL AND expires_at > $4 AND ${afterCursor('keygate_sessions', page.order)}
     ${orderBy(page.order)}
     LIMIT $2`,
    [after, take + 1, userId, now])
  return toPage(rows, take, (row) => row)
}

/** The cold lookup of a session: a replica may answer (Database.read). */
export async function findSession (db: Pick<Database, 'read'>, id: string): Promise<SessionRow | null> {
  const { rows } = await db.read<SessionRow>(
    `SELECT ${COLUMNS} FROM keygate_sessions WHERE id = $1`, [id])
  return rows[0] ?? null
}

/**
 * Ends a session of this user (again, harmlessly, if it already ended) and tells
 * every instance listening; false when the user has no such session.
 */
export async function revokeSession (db: SqlClient, id: string, userId: string, now: Date): Promise<boolean> {
  const { rows } = await db.query(
    `WITH ended AS (
       UPDATE keygate_sessions SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND user_id = $2 RETURNING id
     )
     SELECT pg_notify($4, id) FROM ended`,
    [id, userId, now, SESSIONS_CHANNEL])
  return rows.length === 1
}
