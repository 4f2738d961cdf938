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
    const inputText = withoutNul(JSON.stringify({ ...entry.input, now: 0 }))
    input = { hash: createHash('sha256').update(inputText).digest('base64url').slice(0, 22), text: inputText }
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
