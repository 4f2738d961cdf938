/**
 * A request target (path and query) as the decision sees it: the path
 * without query or fragment, and one fact about the query, whether it has an
 * `access_token` parameter (RFC 6750 §2.3) under any encoding of its name.
 * Nothing else in the query takes part in a decision.
 */
export interface Target {
  path: string
  queryAccessToken: boolean
}

export function splitTarget (target: string): Target {
  const end = target.search(/[?#]/)
  if (end === -1) return { path: target, queryAccessToken: false }
  return { path: target.slice(0, end), queryAccessToken: target[end] === '?' && hasAccessToken(target.slice(end + 1)) }
}

function hasAccessToken (queryAndFragment: string): boolean {
  const hash = queryAndFragment.indexOf('#')
  const query = hash === -1 ? queryAndFragment : queryAndFragment.slice(0, hash)
  return query !== '' && new URLSearchParams(query).has('access_token')
}

/**
 * The target as a decision takes it: the path, plus `?access_token` when the
 * query has one (the only query fact a decision reads), so that requests
 * differing in the rest of their query are one decision.
 */
export function decisionTarget (target: string): string {
  const { path, queryAccessToken } = splitTarget(target)
  return queryAccessToken ? `${path}?access_token` : path
}
