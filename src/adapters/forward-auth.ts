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
export const FORWARD_AUTH_PATH = '/v1/forward-auth'

export type ForwardedRequest =
  | { ok: true; method: string; path: string }
  | { ok: false; problem: string }

const METHOD_HEADERS = ['x-forwarded-method', 'x-original-method'] as const
const URI_HEADERS = ['x-forwarded-uri', 'x-original-uri'] as const

export function forwardedRequest (method: string, url: string, headers: Record<string, string[] | undefined>): ForwardedRequest {
  const methods = collect(headers, METHOD_HEADERS, (value) => value.toUpperCase())
  const paths = collect(headers, URI_HEADERS, pathOf)
  const tail = pathOf(url).slice(FORWARD_AUTH_PATH.length)
  if (tail !== '') paths.push(tail)

  if (paths.length === 0) {
    return { ok: false, problem: `no request to authorize: send X-Forwarded-Uri or X-Original-URI, or append the path to ${FORWARD_AUTH_PATH}` }
  }
  if (new Set(paths).size > 1) return { ok: false, problem: 'the forwarded URI headers (and path) name different requests' }
  if (new Set(methods).size > 1) return { ok: false, problem: 'the forwarded method headers name different methods' }
  return { ok: true, method: methods[0] ?? method, path: paths[0] as string }
}

function collect (headers: Record<string, string[] | undefined>, names: readonly string[], normalise: (value: string) => string): string[] {
  const values: string[] = []
  for (const name of names) {
    for (const value of headers[name] ?? []) values.push(normalise(value.trim()))
  }
  return values
}

/** The query string never takes part in the decision. */
function pathOf (target: string): string {
  const end = target.search(/[?#]/)
  return end === -1 ? target : target.slice(0, end)
}
