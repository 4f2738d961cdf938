// The policy's allowedRoutes globs (policies/keygate/lib/sessions/sessions.rego),
// for the glob tester: "*" one segment, "**" any number, "!" excludes;
// exclusions match case-insensitively, inclusions exactly. The API's answer
// is the policy's; the browser test checks that the two agree.
const NAMESPACES = ['/api/v1/', '/v1/']

function strip (pattern) {
  for (const prefix of NAMESPACES) if (pattern.startsWith(prefix)) return pattern.slice(prefix.length)
  return pattern.startsWith('/') ? pattern.slice(1) : pattern
}

function matcher (glob) {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*' && glob[i + 1] === '*') { source += '.*'; i++ } else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

/** The path after its namespace prefix, or null outside /api/v1/ and /v1/. */
export function routeRest (path) {
  for (const prefix of NAMESPACES) if (path.startsWith(prefix)) return path.slice(prefix.length)
  return null
}

export function routeAllowed (patterns, path) {
  const rest = routeRest(path)
  if (rest === null) return false
  if (patterns === null) return true
  if (patterns.length === 0) return false
  const negatives = patterns.filter((p) => p.startsWith('!')).map((p) => strip(p.slice(1)).toLowerCase())
  const positives = patterns.filter((p) => !p.startsWith('!')).map(strip)
  if (negatives.some((n) => matcher(n).test(rest.toLowerCase()))) return false
  return positives.length === 0 || positives.some((p) => matcher(p).test(rest))
}
