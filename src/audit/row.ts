import { createHash, randomBytes } from 'node:crypto'
import type { DecisionRecord } from '../authorizer/result.js'
import { clientAddress, decisionEntry, type DecisionEntry, type LogEntry } from './entry.js'

/** A part of entries stored once per UTC day and content, by the hash of its text. */
export interface StoredPart { hash: string; text: string }

/** One entry as a row of keygate_decision_log, and the parts stored apart. */
export interface Row {
  /** UTC day of the entry, YYYY-MM-DD. */
  day: string
  columns: Array<string | number | null | string[]>
  /** Its policy input (with `now` set to 0), when stored apart. */
  input: StoredPart | null
  /** Its memo entry's template, when stored apart: the row's entry column then holds only the fields that vary. */
  template: StoredPart | null
  /** The whole entry's JSON text, its input (if stored apart) replaced by `{"now": …}`. */
  text: string
  /** The row as a line of COPY's text format, when it was made with it (a memo hit's). */
  copy?: string
  /** A short row's: the fields of its entry that vary, as JSON (what the spool keeps of it beside the template). */
  varying?: string
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
  if (entry.kind === 'decision') {
    const template = spliced.get(entry.result)
    if (template !== undefined) return new SplicedRow(template, entry)
  }
  const known = rows.get(entry)
  if (known !== undefined) return known
  let input: StoredPart | null = null
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
    template: null,
    text,
    columns: [
      entry.timestamp, entry.id, entry.kind, entry.kind === 'security' ? entry.event : null, entry.decision_id, entry.status,
      entry.code, entry.credential_type, entry.key_id, entry.key_prefix, entry.subject, entry.actor, entry.client_address,
      entry.reason_codes, input?.hash ?? null, null, text
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
const storedInputs = new WeakMap<object, { parts: unknown[]; stored: StoredPart }>()

function storedInput (input: Record<string, unknown>): StoredPart {
  const parts = Object.keys(input).flatMap((name) => name === 'now' ? [name] : [name, input[name]])
  const anchor = parts.find((part) => typeof part === 'object' && part !== null)
  const shared = anchor !== undefined && parts.every((part) => typeof part !== 'object' || part === null || Object.isFrozen(part))
  if (shared) {
    const known = storedInputs.get(anchor as object)
    if (known !== undefined && known.parts.length === parts.length && known.parts.every((part, i) => part === parts[i])) return known.stored
  }
  const stored = storedPart(withoutNul(JSON.stringify({ ...input, now: 0 })))
  if (shared) storedInputs.set(anchor as object, { parts, stored })
  return stored
}

function storedPart (text: string): StoredPart {
  return { hash: createHash('sha256').update(text).digest('base64url').slice(0, 22), text }
}

/** The columns of a row that a short row's entry takes from them. */
export interface EntryColumns {
  id: string
  decision_id: string
  /** As the entry has it: RFC 3339, UTC, to the millisecond. */
  timestamp: string
  client_address: string | null
}

/**
 * The entry of a row's text and of its input's text (null when not stored
 * apart); with a template, the row is a short one: the template's fields,
 * with the row's columns and then its text's over them.
 */
export function entryOf (text: string, input: string | null, template: { text: string; columns?: EntryColumns } | null = null): LogEntry {
  const entry = (template === null ? JSON.parse(text) : Object.assign(JSON.parse(template.text), template.columns, JSON.parse(text))) as LogEntry
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

/**
 * JSON text without the escape of NUL (rarely there: look before replacing).
 * An escape begins with an odd run of backslashes: `\\u0000` is a backslash
 * and `u0000`, kept.
 */
function withoutNul (json: string): string {
  return json.includes('\\u0000') ? json.replace(/(\\+)u0000/g, (match: string, run: string) => run.length % 2 === 1 ? run.slice(1) : match) : json
}

const COPY_SPECIAL = /[\\\t\n\r]/
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }

/** One line of COPY's text format: tab-separated, \N for null, backslash escapes; an array as its literal. */
export function copyLine (columns: Row['columns']): string {
  let line = ''
  for (let i = 0; i < columns.length; i++) {
    const value = columns[i]
    let text: string
    if (value === null || value === undefined) text = '\\N'
    else if (typeof value === 'number') text = String(value)
    else if (Array.isArray(value)) text = copyText(`{${value.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`)
    else text = copyText(value)
    line += i === 0 ? text : `\t${text}`
  }
  return line + '\n'
}

function copyText (text: string): string {
  return COPY_SPECIAL.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c] as string) : text
}

/** What differs between the entries of decisions that one memo entry answers. */
interface Varying {
  id: string
  timestamp: string
  now: number
  timer: number
  client: string | null
}

/** A constant part, or a varying field: `json` when in JSON text. */
type Piece = string | { name: keyof Varying; json: boolean }

/**
 * A memo entry's first entry and row, made with a mark in place of each
 * varying field and split around the marks: the whole text of a later hit,
 * and its row's columns and COPY line (escaped once), are its varying values
 * spliced in. The row is the short one: the template (the entry with its
 * varying fields blank) is stored apart, and the row's entry column holds
 * the varying fields that are not columns, each whole: `input` (as
 * `{"now": …}`) and `metrics`.
 */
interface Template {
  entry: DecisionEntry
  input: StoredPart | null
  stored: StoredPart
  columns: Row['columns']
  /** Columns that are a varying field, by index; and the entry column's. */
  varyingColumns: Array<[number, keyof Varying]>
  entryColumn: number
  text: Piece[]
  /** The entry column's text; and every varying field's, for the spool. */
  varyingText: Piece[]
  allVarying: Piece[]
  copy: Piece[]
}

/** Unguessable: no text an entry holds can pass for one. */
const MARK = `${randomBytes(12).toString('hex')}_`
const MARKS = new RegExp(`("?)${MARK}(id|timestamp|now|timer|client)\\1`)
const MARKED: Varying = {
  id: `${MARK}id`,
  timestamp: `${MARK}timestamp`,
  now: `${MARK}now` as unknown as number,
  timer: `${MARK}timer` as unknown as number,
  client: `${MARK}client`
}
const BLANK: Varying = { id: '', timestamp: '', now: 0, timer: 0, client: null }

/** Per memo entry, for as long as it lives; null when a template could not make its first hit's entry as the slow way does. */
const templates = new WeakMap<object, Template | null>()
/**
 * The template of the entries spliced from it, under the `result` they
 * share (entries are never changed): their rows are made when asked for,
 * once by the spool and once by the store, and never kept.
 */
const spliced = new WeakMap<object, Template>()

/**
 * The decision-log entry of a record. The entries of the decisions one memo
 * entry answers differ only in the fields of Varying: from its second hit on,
 * they are spliced from its template, as are their rows.
 */
export function entryFor (record: DecisionRecord): DecisionEntry {
  const memo = record.memo
  if (memo === undefined || record.input === null) return decisionEntry(record)
  const template = templates.get(memo)
  if (template === undefined) {
    const entry = decisionEntry(record)
    templates.set(memo, templateOf(entry))
    return entry
  }
  if (template === null) return decisionEntry(record)
  return splicedEntry(template.entry, {
    id: record.result.decisionId,
    timestamp: isoTime(record.timestamp),
    now: record.input.now,
    timer: Math.round(record.durationMs * 1e6),
    client: clientAddress(record)
  })
}

/**
 * The template of a memo entry's first entry; null unless its row, spliced
 * back, gives what the slow way does: the same whole text and columns, and
 * the same entry once read back from the short row.
 */
function templateOf (entry: DecisionEntry): Template | null {
  if (entry.input === null) return null
  const marked = rowOf(splicedEntry(entry, MARKED))
  const stored = storedPart(rowOf(splicedEntry(entry, BLANK)).text)
  const entryColumn = marked.columns.indexOf(marked.text)
  const columns = marked.columns.slice()
  columns[entryColumn - 1] = stored.hash
  columns[entryColumn] = varyingText(MARKED)
  const varyingColumns: Template['varyingColumns'] = []
  columns.forEach((value, i) => {
    if (i !== entryColumn && typeof value === 'string' && value.startsWith(MARK)) varyingColumns.push([i, value.slice(MARK.length) as keyof Varying])
  })
  const template: Template = {
    entry,
    input: marked.input,
    stored,
    columns,
    varyingColumns,
    entryColumn,
    text: piecesOf(marked.text),
    varyingText: piecesOf(columns[entryColumn] as string),
    allVarying: piecesOf(allVaryingText(MARKED)),
    copy: piecesOf(copyLine(columns))
  }
  const expected = rowOf(entry)
  const row = new SplicedRow(template, entry)
  const short = row.columns
  const entryText = short[entryColumn] as string
  const read = entryOf(entryText, expected.input?.text ?? null, { text: stored.text, columns: entryColumnsOf(short) })
  const same = row.text === expected.text && JSON.stringify(entryOf(row.varying, expected.input?.text ?? null, { text: stored.text })) === JSON.stringify(read) && row.day === expected.day && row.input?.text === expected.input?.text &&
    row.copy === copyLine(short) && JSON.stringify(read) === JSON.stringify(entryOf(expected.text, expected.input?.text ?? null)) &&
    JSON.stringify(short.slice(0, entryColumn - 1)) === JSON.stringify(expected.columns.slice(0, entryColumn - 1))
  if (!same) return null
  spliced.set(entry.result, template)
  return template
}

let isoMs = NaN
let iso = ''

/** toISOString, made once per millisecond: the decisions of one come in together. */
function isoTime (date: Date): string {
  const ms = date.getTime()
  if (ms !== isoMs) {
    iso = date.toISOString()
    isoMs = ms
  }
  return iso
}

/** The entry with these varying values; the rest is the template's own objects. */
function splicedEntry (entry: DecisionEntry, varying: Varying): DecisionEntry {
  return {
    ...entry,
    id: varying.id,
    decision_id: varying.id,
    timestamp: varying.timestamp,
    input: { ...entry.input as NonNullable<DecisionEntry['input']>, now: varying.now },
    metrics: { timer_keygate_authorize_ns: varying.timer },
    client_address: varying.client
  }
}

/** The fields of a spliced entry that vary and are not columns, each whole: what its short row's entry column holds. */
function varyingText (varying: Varying): string {
  return JSON.stringify({ input: { now: varying.now }, metrics: { timer_keygate_authorize_ns: varying.timer } })
}

/** Every field of a spliced entry that varies, each whole. */
function allVaryingText (varying: Varying): string {
  return JSON.stringify({
    id: varying.id,
    decision_id: varying.id,
    timestamp: varying.timestamp,
    client_address: varying.client,
    input: { now: varying.now },
    metrics: { timer_keygate_authorize_ns: varying.timer }
  })
}

/** A row's columns that a short row's entry takes (see rowOf for their order). */
function entryColumnsOf (columns: Row['columns']): EntryColumns {
  return { id: columns[1] as string, decision_id: columns[4] as string, timestamp: columns[0] as string, client_address: columns[12] as string | null }
}

class SplicedRow implements Row {
  readonly #template: Template
  readonly #varying: Varying
  readonly day: string
  readonly input: StoredPart | null
  readonly template: StoredPart

  constructor (template: Template, entry: DecisionEntry) {
    this.#template = template
    this.#varying = {
      id: entry.id,
      timestamp: entry.timestamp,
      now: (entry.input as NonNullable<DecisionEntry['input']>).now,
      timer: entry.metrics.timer_keygate_authorize_ns,
      client: entry.client_address
    }
    this.day = entry.timestamp.slice(0, 10)
    this.input = template.input
    this.template = template.stored
  }

  get text (): string {
    return splice(this.#template.text, this.#varying, false)
  }

  get copy (): string {
    return splice(this.#template.copy, this.#varying, true)
  }

  get varying (): string {
    return splice(this.#template.allVarying, this.#varying, false)
  }

  get columns (): Row['columns'] {
    const columns = this.#template.columns.slice()
    for (const [i, name] of this.#template.varyingColumns) columns[i] = columnOf(this.#varying[name])
    columns[this.#template.entryColumn] = splice(this.#template.varyingText, this.#varying, false)
    return columns
  }
}

function splice (pieces: readonly Piece[], varying: Varying, copy: boolean): string {
  let out = ''
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      out += piece
      continue
    }
    const value = varying[piece.name]
    if (value === null) {
      out += piece.json ? 'null' : '\\N'
      continue
    }
    // A finite number is the same text in JSON and in a column, and needs no escape.
    if (typeof value === 'number' && Number.isFinite(value)) {
      out += String(value)
      continue
    }
    if (!piece.json && typeof value === 'string' && !COPY_OR_NUL.test(value)) {
      out += value
      continue
    }
    const text = piece.json ? jsonText(value) : String(columnOf(value))
    out += copy ? copyText(text) : text
  }
  return out
}

/** What a column's text loses (NUL) or COPY escapes. */
const COPY_OR_NUL = /[\\\t\n\r\0]/

/** Characters JSON.stringify would escape (and NUL, which the row drops). */
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/

/** JSON.stringify of the value, NUL dropped; a string with nothing to escape (an id, a time, an address) is only quoted: JSON.stringify costs ~0.25 µs a call. */
function jsonText (value: string | number): string {
  return typeof value === 'string' && !JSON_ESCAPED.test(value) ? `"${value}"` : withoutNul(JSON.stringify(value))
}

function columnOf (value: string | number | null): string | number | null {
  return typeof value === 'string' ? noNul(value) : value
}

function piecesOf (text: string): Piece[] {
  const parts = text.split(MARKS)
  const pieces: Piece[] = [parts[0] as string]
  for (let i = 1; i < parts.length; i += 3) pieces.push({ name: parts[i + 1] as keyof Varying, json: parts[i] === '"' }, parts[i + 2] as string)
  return pieces
}
