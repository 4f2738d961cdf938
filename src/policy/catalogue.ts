import { readFileSync } from 'node:fs'

/** One route of the endpoint catalogue: `POST /api/v1/bot/{botId}/delete`. */
export interface CatalogueRoute {
  method: string
  template: string
  /** The segment after the namespace: `bot`. */
  resource: string
}

/**
 * The reference endpoint catalogue (policies/routes.tsv: method and path
 * template of the API Keygate fronts), which the policy's data tables are
 * written for. Read once, on first use.
 */
export const CATALOGUE_PATH = new URL('../../policies/routes.tsv', import.meta.url)

let loaded: { routes: CatalogueRoute[]; matchers: Array<{ route: CatalogueRoute; pattern: RegExp }> } | null = null

function catalogue (): NonNullable<typeof loaded> {
  if (loaded !== null) return loaded
  const routes = readFileSync(CATALOGUE_PATH, 'utf8').trim().split('\n').slice(1).map((line): CatalogueRoute => {
    const [method, template] = line.split('\t') as [string, string]
    return { method, template, resource: template.split('/')[3] ?? '' }
  })
  const matchers = routes.map((route) => ({ route, pattern: templatePattern(route.template) }))
  loaded = { routes, matchers }
  return loaded
}

export function catalogueRoutes (): readonly CatalogueRoute[] {
  return catalogue().routes
}

/** The catalogue route a request matches (under /api/v1/ or its /v1/ alias), or null. No two of its templates match one path. */
export function catalogueRouteOf (method: string, path: string): CatalogueRoute | null {
  const apiPath = path.startsWith('/v1/') ? `/api${path}` : path
  const upper = method.toUpperCase()
  return catalogue().matchers.find(({ route, pattern }) => route.method === upper && pattern.test(apiPath))?.route ?? null
}

/** `{name}` is one segment; `{path}` (storage) any number. */
function templatePattern (template: string): RegExp {
  const source = template.split('/').map((segment) => {
    if (segment === '{path}') return '.+'
    if (segment.startsWith('{')) return '[^/]+'
    return segment.replace(/[.+*?^${}()|[\]\\]/g, '\\$&')
  }).join('/')
  return new RegExp(`^${source}$`)
}
