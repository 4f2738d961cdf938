import { isEmail } from '../lib/email.js'
import { trimOws } from '../lib/ows.js'
import type { RunAsHeader } from '../policy/input.js'
import { isWellFormedSecretKey, SECRET_KEY_PREFIX } from './secret-key.js'

/** Header values as Node gives them (`headersDistinct` arrays) or as JSON clients send them. */
export type HeaderValue = string | string[] | undefined
export type Headers = Record<string, HeaderValue>

export type PresentedCredential =
  | { type: 'none' }
  /** An Authorization header of another scheme (Basic, Token, …) or a bare credential: no Bearer credential was presented. */
  | { type: 'other_scheme' }
  | { type: 'malformed'; reason: MalformedReason }
  | { type: 'secret_key'; key: string }
  | { type: 'session'; token: string }
  /** Never parsed from headers: Keygate's server finds it from the console cookie (AuthorizeRequest.console). */
  | { type: 'console_session'; session: ConsoleCredential | null }
  /** Never parsed from headers: a key named by its id, to check what it may do (Authorizer.explain's `asKeyId`); decided as the key presented. */
  | { type: 'stored_key'; keyId: string }

export type MalformedReason =
  | 'duplicate_header'
  | 'bad_syntax'
  | 'too_long'
  | 'bad_checksum'
  | 'unknown_token_format'

/** A console session as Keygate's server found it from its cookie (see AuthorizeRequest.console). */
export interface ConsoleCredential {
  /** The key whose rights the session carries. */
  keyId: string
  /** Epoch milliseconds of sign-in. */
  issuedAt: number
  /** Epoch milliseconds when the session ends unless used again. */
  expiresAt: number
}

/** Every X-RunAs-* header naming the account one way (an id, or an e-mail), all its spellings together. */
export interface RunAsValue {
  via: RunAsHeader
  /** The value without OWS when well formed; never used when not. */
  value: string
  /** Exactly one header of this kind, its value in the grammar (see isWellFormedRunAs). */
  wellFormed: boolean
}

export interface ParsedCredentials {
  credential: PresentedCredential
  runAs: RunAsValue[]
}

/** Longest Authorization header value considered; anything longer is refused unparsed. */
export const MAX_AUTHORIZATION_LENGTH = 8192
// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i
// RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ], auth-scheme = token.
const AUTH_SCHEME = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: |$)/
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/

const RUN_AS_HEADERS: ReadonlyArray<[string, RunAsHeader]> = [
  ['x-runas-user-id', 'user_id'],
  ['x-runas-userid', 'user_id'],
  ['x-runas-child-user-email', 'email']
]

/** The headers parseCredentials reads (lower-case): nothing else about a request is a credential. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', ...RUN_AS_HEADERS.map(([name]) => name)])
const CREDENTIAL_HEADER_ORDER = [...CREDENTIAL_HEADERS]
const CREDENTIAL_HEADER_LENGTHS = new Set([...CREDENTIAL_HEADERS].map((name) => name.length))

/** Reads the Authorization and X-RunAs-* headers. Pure: no I/O, no clock. */
export function parseCredentials (headers: Headers): ParsedCredentials {
  const lower = credentialHeaders(headers)
  return { credential: parseAuthorization(lower.authorization), runAs: parseRunAs(lower) }
}

/**
 * Every value of the headers `parseCredentials` reads, in one string that
 * differs whenever its answer could: length-prefixed, in a fixed order. A
 * memo key (see DecisionMemo), so it holds the credentials as presented.
 */
export function credentialHeaderValues (headers: Headers): string {
  const lower = credentialHeaders(headers)
  let out = ''
  for (const name of CREDENTIAL_HEADER_ORDER) {
    const value = lower[name]
    if (value === undefined) {
      out += '|-'
    } else if (typeof value === 'string') {
      out += `|${value.length}:${value}`
    } else {
      out += `|${value.length}*`
      for (const v of value) out += `${v.length}:${v}`
    }
  }
  return out
}

function parseAuthorization (value: HeaderValue): PresentedCredential {
  if (value === undefined) return { type: 'none' }
  if (Array.isArray(value)) {
    if (value.length === 0) return { type: 'none' }
    if (value.length > 1) return { type: 'malformed', reason: 'duplicate_header' }
    value = value[0] as string
  }
  if (value.length > MAX_AUTHORIZATION_LENGTH) return { type: 'malformed', reason: 'too_long' }
  const trimmed = trimOws(value)
  if (trimmed === '') return { type: 'none' }
  const scheme = AUTH_SCHEME.exec(trimmed)?.[1]
  // A bare key or token (no scheme) is not a Bearer credential either.
  if (scheme === undefined) return TOKEN68.test(trimmed) ? { type: 'other_scheme' } : { type: 'malformed', reason: 'bad_syntax' }
  if (scheme.toLowerCase() !== 'bearer') return { type: 'other_scheme' }
  const match = BEARER.exec(trimmed)
  if (match === null) return { type: 'malformed', reason: 'bad_syntax' }
  const token = match[1] as string
  if (token.startsWith(SECRET_KEY_PREFIX)) {
    return isWellFormedSecretKey(token)
      ? { type: 'secret_key', key: token }
      : { type: 'malformed', reason: 'bad_checksum' }
  }
  if (JWT_SHAPE.test(token)) return { type: 'session', token }
  return { type: 'malformed', reason: 'unknown_token_format' }
}

/** One entry per kind sent: X-RunAs-User-ID and its alias X-RunAs-UserId are one kind, so both at once are a duplicate. */
function parseRunAs (headers: Headers): RunAsValue[] {
  const byKind = new Map<RunAsHeader, string[]>()
  for (const [name, via] of RUN_AS_HEADERS) {
    const raw = headers[name]
    if (raw === undefined) continue
    const values = byKind.get(via) ?? []
    byKind.set(via, values.concat(raw))
  }
  const out: RunAsValue[] = []
  for (const [via, values] of byKind) {
    if (values.length === 0) continue
    const value = values.length === 1 ? trimOws(values[0] as string) : ''
    out.push({ via, value, wellFormed: values.length === 1 && isWellFormedRunAs(via, value) })
  }
  return out
}

function isWellFormedRunAs (via: RunAsHeader, value: string): boolean {
  return via === 'user_id' ? USER_ID.test(value) : isEmail(value)
}

/**
 * The Authorization and X-RunAs-* headers under lower-case names, every value
 * of a name sent in several spellings kept (in order): the rest is not looked at.
 */
function credentialHeaders (headers: Headers): Headers {
  const out: Headers = {}
  for (const name of Object.keys(headers)) {
    // Most headers are not ours: their length says so without lower-casing them.
    if (!CREDENTIAL_HEADER_LENGTHS.has(name.length)) continue
    const key = name.toLowerCase()
    if (!CREDENTIAL_HEADERS.has(key)) continue
    const value = headers[name]
    if (value === undefined) continue
    const existing = out[key]
    out[key] = existing === undefined ? value : ([] as string[]).concat(existing, value)
  }
  return out
}
