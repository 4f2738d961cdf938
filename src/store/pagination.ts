import { InvalidCursorError, InvalidValueError } from './errors.js'
import type { Page, PageRequest } from './types.js'

/**
 * Keyset pagination in creation order, shared by every listing (users, keys,
 * sessions): a cursor is the base64url of the last id of the previous page.
 */

export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100

/** The rows after (or, newest first, before) the one the cursor names; $1 is its id, or null for the first page. */
export function afterCursor (table: string, order: PageRequest['order']): string {
  const op = order === 'desc' ? '<' : '>'
  return `($1::text IS NULL OR (created_at, id) ${op} (SELECT created_at, id FROM ${table} WHERE id = $1::text))`
}

export function orderBy (order: PageRequest['order']): string {
  return order === 'desc' ? 'ORDER BY created_at DESC, id DESC' : 'ORDER BY created_at, id'
}

export function pageSize (take: number | undefined): number {
  if (take === undefined) return DEFAULT_PAGE_SIZE
  if (!Number.isSafeInteger(take) || take < 1) throw new InvalidValueError(`take must be a positive integer, got ${String(take)}`)
  return Math.min(take, MAX_PAGE_SIZE)
}

/** The id a cursor names; it must have the listed kind's format. */
export function decodeCursor (cursor: string | null | undefined, format: RegExp): string | null {
  if (cursor === undefined || cursor === null) return null
  const id = typeof cursor === 'string' ? Buffer.from(cursor, 'base64url').toString('latin1') : ''
  if (!format.test(id) || encodeCursor(id) !== cursor) {
    throw new InvalidCursorError('malformed cursor')
  }
  return id
}

function encodeCursor (id: string): string {
  return Buffer.from(id, 'latin1').toString('base64url')
}

/** rows: up to take + 1, so that a next page is known to exist. */
export function toPage<R, T extends { id: string }> (rows: R[], take: number, map: (row: R) => T): Page<T> {
  const items = rows.slice(0, take).map(map)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > take && last !== undefined ? encodeCursor(last.id) : null }
}
