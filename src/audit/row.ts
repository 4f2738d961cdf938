import { createHash } from 'node:crypto'
import type { LogEntry } from './entry.js'

/** One entry as a row of keygate_decision_log, and its input when stored apart. */
export interface Row {
  /** UTC day of the entry, YYYY-MM-DD. */
  day: string
  columns: Array<string | number | null | string[]>
  input: { hash: string; text: string } | null
  /** The entry's JSON text, its input (if stored apart) replaced by `{"now": …}`. */
  text: string
}

/** The spool and the store both need an entry's row: it is made once. */
const rows = new WeakMap<LogEntry, Row>()

/**
 * The row of an entry. A decision's input is stored apart, with its `now`
 * set to 0 (the rest repeats from one decision to the next); the entry keeps
 * `input: {"now": …}` in its place, so that reading it back restores the
 * field order too. PostgreSQL text cannot hold NUL: it is dropped.
 */
export function rowOf (entry: LogEntry): Row {
  const known = rows.get(entry)
  if (known !== undefined) return known
  let input: Row['input'] = null
  let text: string
  if (entry.kind === 'decision' && entry.input !== null) {
    input = storedInput(entry.input as unknown as Record<string, unknown>)
    text = JSON.stringify({ ...entry, input: { now: entry.input.now } })
  } else {
    text = JSON.stringify(entry)
  }
  text = withoutNul(text)
  const row: Row = {
    day: entry.timestamp.slice(0, 10),
    input,
    text,
    columns: [
      entry.timestamp, entry.id, entry.kind, entry.kind === 'security' ? entry.event : null, entry.decision_id, entry.status,
      entry.code, entry.credential_type, entry.key_id, entry.key_prefix, entry.subject, entry.actor, entry.client_address,
      entry.reason_codes, input?.hash ?? null, text
    ].map((value) => typeof value === 'string' ? noNul(value) : Array.isArray(value) ? value.map(noNul) : value)
  }
  rows.set(entry, row)
  return row
}

/**
 * Decisions the memo answers share their input's parts, masked once and
 * frozen (src/audit/mask.ts): the text and hash of such an input are kept,
 * under its first part, for as long as that part lives.
 */
const storedInputs = new WeakMap<object, { parts: unknown[]; stored: NonNullable<Row['input']> }>()

function storedInput (input: Record<string, unknown>): NonNullable<Row['input']> {
  const parts = Object.keys(input).flatMap((name) => name === 'now' ? [name] : [name, input[name]])
  const anchor = parts.find((part) => typeof part === 'object' && part !== null)
  const shared = anchor !== undefined && parts.every((part) => typeof part !== 'object' || part === null || Object.isFrozen(part))
  if (shared) {
    const known = storedInputs.get(anchor as object)
    if (known !== undefined && known.parts.length === parts.length && known.parts.every((part, i) => part === parts[i])) return known.stored
  }
  const text = withoutNul(JSON.stringify({ ...input, now: 0 }))
  const stored = { hash: createHash('sha256').update(text).digest('base64url').slice(0, 22), text }
  if (shared) storedInputs.set(anchor as object, { parts, stored })
  return stored
}

/** The entry of a row's text and its input's text (null when not stored apart). */
export function entryOf (text: string, input: string | null): LogEntry {
  const entry = JSON.parse(text) as LogEntry
  if (input !== null && entry.kind === 'decision' && entry.input !== null) {
    const full = JSON.parse(input) as NonNullable<typeof entry.input>
    full.now = entry.input.now
    entry.input = full
  }
  return entry
}

function noNul (text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', '') : text
}

/** JSON text without the escape of NUL (rarely there: look before replacing). */
function withoutNul (json: string): string {
  return json.includes('\\u0000') ? json.replace(/\\u0000/g, '') : json
}
