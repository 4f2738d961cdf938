import type { AuthorizationResult } from '../authorizer/result.js'
import { errorBody } from '../errors.js'

/** An HTTP answer independent of any framework: status, headers (Content-Length included), serialised body. */
export interface HttpAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

const REALM = 'Bearer realm="keygate"'
const JSON_TYPE = 'application/json; charset=utf-8'

// Built once: every denial of a kind is the same bytes, whatever the reason behind it.
const NOT_AUTHENTICATED = answer(401, REALM, errorBody('NOT_AUTHENTICATED'))
// RFC 6750 §3.1: invalid_token when a Bearer credential was presented but is not accepted.
const INVALID_TOKEN = answer(401, `${REALM}, error="invalid_token"`, errorBody('NOT_AUTHENTICATED'))
// One answer for every request the policy finds malformed (X-RunAs-* syntax, two credential methods).
const INVALID_REQUEST = answer(400, `${REALM}, error="invalid_request"`, errorBody('INVALID_REQUEST'))
const NOT_AUTHORIZED = answer(403, `${REALM}, error="insufficient_scope"`, errorBody('NOT_AUTHORIZED'))
const UNAVAILABLE = answer(503, null, errorBody('SERVICE_UNAVAILABLE'))
const INTERNAL = answer(500, null, errorBody('INTERNAL_ERROR'))

/**
 * The answer to a request the decision refused: 400, 401, 403 or 503 with the
 * SDK's JSON bodies and RFC 6750 challenges. Reasons never leave the server.
 */
export function denialOf (result: AuthorizationResult): HttpAnswer {
  switch (result.status) {
    case 400: return INVALID_REQUEST
    // No error parameter for a request without Bearer credentials (none, or another scheme).
    case 401: return result.credential.type === 'none' || result.credential.type === 'other_scheme' ? NOT_AUTHENTICATED : INVALID_TOKEN
    case 403: return NOT_AUTHORIZED
    case 429: return rateLimited(result)
    // A malformed or unexpected status fails closed.
    default: return UNAVAILABLE
  }
}

const RATE_LIMITED_BODY = errorBody('RATE_LIMITED')

/**
 * 429 with `Retry-After`: the same bytes for every credential refused at the
 * same moment (the headers name the limit, never the credential).
 */
function rateLimited (result: AuthorizationResult): HttpAnswer {
  const headers: Record<string, string> = {
    'content-type': JSON_TYPE,
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(RATE_LIMITED_BODY)),
    'retry-after': String(result.retryAfterSeconds ?? 1)
  }
  addRateLimitHeaders(headers, result)
  return { status: 429, headers, body: RATE_LIMITED_BODY }
}

/** RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), when the key or its account has limits. */
export function addRateLimitHeaders (headers: Record<string, string>, result: AuthorizationResult): void {
  if (result.rateLimit === undefined) return
  headers['ratelimit-policy'] = result.rateLimit.policy
  headers.ratelimit = result.rateLimit.state
}

/** The 401 answer, for callers refused outside the policy; `presented`: a credential was sent, but not accepted. */
export function notAuthenticated (presented: boolean): HttpAnswer {
  return presented ? INVALID_TOKEN : NOT_AUTHENTICATED
}

/**
 * A decision as its HTTP caller may see it: a 401 names no credential id or
 * prefix, or the answer would tell which keys and sessions once existed (a
 * revoked key has an id, an unknown one none). The decision log keeps them.
 */
export function disclosedResult<T extends AuthorizationResult> (result: T): T {
  if (result.status !== 401 && result.status !== 429) return result
  return { ...result, credential: { type: result.credential.type, id: null, prefix: null } }
}

/** The 403 answer, for refusals decided outside the policy (e.g. scopes wider than the caller's). */
export function notAuthorized (): HttpAnswer {
  return NOT_AUTHORIZED
}

/** 200 with the identity headers and an empty body: what a forward-auth proxy passes on. */
export function allowedAnswer (result: AuthorizationResult): HttpAnswer {
  const headers = identityHeadersOf(result)
  addRateLimitHeaders(headers, result)
  headers['cache-control'] = 'no-store'
  headers['content-length'] = '0'
  return { status: 200, headers, body: '' }
}

/** 500: a fault outside the decision (which answers its own faults with 503). */
export function internalError (): HttpAnswer {
  return INTERNAL
}

/** 400 for a request that cannot be decided at all; `problem` must be safe to show. */
export function invalidRequest (problem: string): HttpAnswer {
  return answer(400, null, errorBody('INVALID_REQUEST', problem))
}

/**
 * Identity of an allowed request, for the proxy to pass upstream. Every header
 * is always sent, empty when it has no value (no actor unless impersonating):
 * a proxy that copies them then overwrites whatever the client sent under
 * those names, whatever it does with a header that is missing.
 */
export function identityHeadersOf (result: AuthorizationResult): Record<string, string> {
  return {
    'x-keygate-user-id': result.subject ?? '',
    'x-keygate-actor-id': result.actor ?? '',
    'x-keygate-key-id': result.credential.id ?? '',
    'x-keygate-credential': result.credential.type === 'none' ? '' : result.credential.type,
    'x-keygate-decision-id': result.decisionId
  }
}

function answer (status: number, challenge: string | null, body: string): HttpAnswer {
  const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body)) }
  if (challenge !== null) headers['www-authenticate'] = challenge
  return Object.freeze({ status, headers: Object.freeze(headers), body }) as HttpAnswer
}

/**
 * Every header with all its values, from Node's `rawHeaders`: duplicates
 * (two Authorization headers) must reach the credential parser, and Node's
 * own `headers` object silently keeps only the first of some.
 */
export function distinctHeaders (rawHeaders: readonly string[]): Record<string, string[]> {
  const headers: Record<string, string[]> = Object.create(null)
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) add(headers, (rawHeaders[i] as string).toLowerCase(), rawHeaders[i + 1] as string)
  return headers
}

/**
 * distinctHeaders for the named (lower-case) headers only: the others are
 * passed over by their length, without being lower-cased or stored.
 */
export function headerPicker (names: Iterable<string>): (rawHeaders: readonly string[]) => Record<string, string[]> {
  const wanted = new Set(names)
  const lengths = new Set([...wanted].map((name) => name.length))
  return (rawHeaders) => {
    const headers: Record<string, string[]> = Object.create(null)
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const raw = rawHeaders[i] as string
      if (!lengths.has(raw.length)) continue
      const name = raw.toLowerCase()
      if (wanted.has(name)) add(headers, name, rawHeaders[i + 1] as string)
    }
    return headers
  }
}

function add (headers: Record<string, string[]>, name: string, value: string): void {
  const values = headers[name]
  if (values === undefined) headers[name] = [value]
  else values.push(value)
}
