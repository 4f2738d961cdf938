/**
 * Which request a proxy asks about. nginx `auth_request` sends
 * X-Original-Method/X-Original-URI (set in its config), Traefik and Caddy send
 * X-Forwarded-Method/X-Forwarded-Uri, Envoy `ext_authz` sends the original
 * method with the original path appended to the check path.
 *
 * Proxies pass the client's own headers along, so a client can add the header
 * the proxy does not set: a value from every source present must agree, or
 * the request is refused rather than authorized for a path it does not take.
 */
import type { Authorizer } from '../authorizer/authorizer.js'
import type { ClientInfo } from '../authorizer/result.js'
import { CREDENTIAL_HEADERS } from '../credentials/parse.js'
import { allowedAnswer, denialOf, invalidRequest, type HttpAnswer } from './http.js'

export const FORWARD_AUTH_PATH = '/v1/forward-auth'

/** A proxy's check request, as any HTTP stack has it. */
export interface ForwardAuthCheck {
  /** The check request's own method and target (Envoy appends the original path to it). */
  method: string
  url: string
  /** Headers with all their values, lower-case names (see distinctHeaders): at least FORWARD_AUTH_HEADERS. */
  headers: Record<string, string[] | undefined>
  scheme: 'http' | 'https'
  client: ClientInfo
}

/** True for the URLs the forward-auth endpoint answers: the path itself, or it with the original path appended. */
export function isForwardAuthUrl (url: string): boolean {
  if (!url.startsWith(FORWARD_AUTH_PATH)) return false
  const next = url.charCodeAt(FORWARD_AUTH_PATH.length)
  // End, '/', '?' or '#'.
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35
}

/**
 * The answer to a check: 200 with the identity headers, 400 when the proxy
 * names no single request, else the decision's 401/403/503.
 */
export async function forwardAuth (authorizer: Pick<Authorizer, 'authorize'>, check: ForwardAuthCheck): Promise<HttpAnswer> {
  const target = forwardedRequest(check.method, check.url, check.headers)
  if (!target.ok) return invalidRequest(target.problem)
  const result = await authorizer.authorize({
    method: target.method,
    path: target.path,
    headers: check.headers,
    scheme: check.scheme,
    client: check.client
  })
  return result.allow ? allowedAnswer(result) : denialOf(result)
}

export type ForwardedRequest =
  | { ok: true; method: string; path: string }
  | { ok: false; problem: string }

const METHOD_HEADERS = ['x-forwarded-method', 'x-original-method'] as const
const URI_HEADERS = ['x-forwarded-uri', 'x-original-uri'] as const
/** Every header a forward-auth answer depends on: the request named, and what the authorizer reads (see CREDENTIAL_HEADERS). */
export const FORWARD_AUTH_HEADERS: readonly string[] = [...METHOD_HEADERS, ...URI_HEADERS, ...CREDENTIAL_HEADERS]

export function forwardedRequest (method: string, url: string, headers: Record<string, string[] | undefined>): ForwardedRequest {
  const tail = pathOf(url).slice(FORWARD_AUTH_PATH.length)
  const path = agreeing(headers, URI_HEADERS, pathOf, tail === '' ? null : tail)
  if (path === null) {
    return { ok: false, problem: `no request to authorize: send X-Forwarded-Uri or X-Original-URI, or append the path to ${FORWARD_AUTH_PATH}` }
  }
  if (path === DISAGREE) return { ok: false, problem: 'the forwarded URI headers (and path) name different requests' }
  const forwardedMethod = agreeing(headers, METHOD_HEADERS, upperCase, null)
  if (forwardedMethod === DISAGREE) return { ok: false, problem: 'the forwarded method headers name different methods' }
  return { ok: true, method: forwardedMethod ?? method, path }
}

const DISAGREE = Symbol('disagree')

/** The one value every source gives (null: none gives any), or DISAGREE. */
function agreeing (headers: Record<string, string[] | undefined>, names: readonly string[], normalise: (value: string) => string, first: string | null): string | null | typeof DISAGREE {
  let agreed = first
  for (const name of names) {
    const values = headers[name]
    if (values === undefined) continue
    for (const raw of values) {
      const value = normalise(raw.trim())
      if (agreed === null) agreed = value
      else if (value !== agreed) return DISAGREE
    }
  }
  return agreed
}

function upperCase (value: string): string {
  return value.toUpperCase()
}

/** The query string never takes part in the decision. */
export function pathOf (target: string): string {
  const end = target.search(/[?#]/)
  return end === -1 ? target : target.slice(0, end)
}
