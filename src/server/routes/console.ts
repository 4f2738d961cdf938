import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Authorizer } from '../../authorizer/authorizer.js'
import { CONSOLE_COOKIE, ConsoleSessions, CSRF_HEADER, csrfMatches, csrfTokenOf, type ConsoleSession } from '../../console/sessions.js'
import { authorizeRequestOf } from '../../adapters/fastify-plugin.js'
import { CATALOGUE_PATH } from '../../policy/catalogue.js'
import { sendError } from '../error-handler.js'
import { HttpError } from '../../errors.js'

export interface ConsoleRoutesOptions {
  authorizer: Pick<Authorizer, 'authorize' | 'store'>
  sessions: ConsoleSessions
}

/** The console's own files (ES modules, HTML, CSS), served as they are: no build step. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../console/', import.meta.url))

// No inline script or style, no eval, nothing from elsewhere, never in a frame.
export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"
].join('; ')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.tsv': 'text/tab-separated-values; charset=utf-8'
}
const CSRF_REFUSED = 'the console CSRF token is missing or wrong'
const tags = ['console']
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
// The API the console's cookie is a credential for: Keygate's own management and operator API.
const API_PREFIXES = ['/api/', '/admin/']
// A representative read of the caller's own keys: what a console session must be allowed to do at all.
const PROBE = { method: 'GET', path: '/api/v1/token/list' }

interface Asset { body: Buffer; type: string }

/**
 * The web console under /console (see docs/console.md): its files, its
 * preact and htm modules from node_modules, and its session (sign-in with a
 * full-access secret key, who am I, sign-out). Registered at the root: its
 * hook turns the console cookie into the console credential for Keygate's
 * API, which the policy then decides as the key that opened it. A
 * state-changing request with the cookie must carry the session's CSRF token.
 */
const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, { authorizer, sessions }) => {
  const assets = loadAssets()
  const { lifetimeSeconds } = sessions.timeouts
  app.decorateRequest('keygateConsole', null)

  app.addHook('onRequest', async (request, reply) => {
    if (!API_PREFIXES.some((prefix) => request.url.startsWith(prefix))) return
    const token = cookieOf(request)
    // An Authorization header decides alone: the cookie is then not a credential.
    if (token === null || request.headers.authorization !== undefined) return
    if (!SAFE_METHODS.has(request.method) && !csrfMatches(token, request.headers[CSRF_HEADER])) {
      return sendError(reply, 'NOT_AUTHORIZED', CSRF_REFUSED)
    }
    request.keygateConsole = { session: credentialOf(await sessions.use(token)) }
  })

  const send = (reply: FastifyReply, asset: Asset): FastifyReply => reply
    .header('content-type', asset.type)
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .send(asset.body)

  const hide = { hide: true }
  app.get('/console', { schema: hide }, async (_request, reply) => await reply.redirect('/console/'))
  app.get('/console/', { schema: hide }, async (_request, reply) => send(reply, assets.get('index.html') as Asset))
  app.get<{ Params: { '*': string } }>('/console/*', { schema: hide }, async (request, reply) => {
    const asset = assets.get(request.params['*'])
    if (asset === undefined) throw new HttpError('NOT_FOUND')
    return send(reply, asset)
  })

  app.post<{ Body: { key: string } }>('/console/api/session', {
    schema: {
      summary: 'Console sign-in: exchange a full-access secret key for a console session cookie',
      tags,
      body: { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string', minLength: 1, maxLength: 512 } } }
    }
  }, async (request, reply) => {
    // The policy decides whether the key may sign in at all, as for any use of it.
    const decision = await authorizer.authorize({ ...authorizeRequestOf(request), ...PROBE, headers: { authorization: `Bearer ${request.body.key}` } })
    if (decision.status === 401 || decision.credential.type !== 'secret_key' || decision.credential.id === null) throw new HttpError('NOT_AUTHENTICATED', 'that is not a live secret key')
    const key = await authorizer.store.findKeyById(decision.credential.id)
    if (key === null) throw new HttpError('NOT_AUTHENTICATED', 'that is not a live secret key')
    // The holder of the key is told why (the error handler's 403 says nothing, to strangers).
    if (key.scopes !== null && !key.scopes.includes('*')) return sendError(reply, 'NOT_AUTHORIZED', 'the console needs a full-access key (no scopes)')
    if (key.actorId !== null) return sendError(reply, 'NOT_AUTHORIZED', 'the console needs the account\'s own key, not one its parent minted')
    if (!decision.allow) return sendError(reply, 'NOT_AUTHORIZED', 'the policy refuses this key')
    const { token, session } = await sessions.create(key.id)
    reply.header('set-cookie', cookie(request, token, lifetimeSeconds))
    return await whoAmI(request, token, session)
  })

  app.get('/console/api/session', { schema: { summary: 'The signed-in console account and its CSRF token', tags } }, async (request) => {
    const token = cookieOf(request)
    const session = token === null ? null : await sessions.use(token)
    if (token === null || session === null) throw new HttpError('NOT_AUTHENTICATED', 'not signed in')
    return await whoAmI(request, token, session)
  })

  app.post('/console/api/session/end', { schema: { summary: 'Console sign-out: the session ends on the server', tags } }, async (request, reply) => {
    const token = cookieOf(request)
    if (token !== null) {
      if (!csrfMatches(token, request.headers[CSRF_HEADER])) return sendError(reply, 'NOT_AUTHORIZED', CSRF_REFUSED)
      await sessions.end(token)
    }
    reply.header('set-cookie', cookie(request, '', 0))
    return { ended: token !== null }
  })

  /** The signed-in account, when the policy still lets the session's key in. */
  async function whoAmI (request: FastifyRequest, token: string, session: ConsoleSession): Promise<object> {
    const decision = await authorizer.authorize({ ...authorizeRequestOf(request), ...PROBE, headers: {}, console: credentialOf(session) })
    if (!decision.allow || decision.subject === null) throw new HttpError('NOT_AUTHENTICATED', 'not signed in')
    const [user, key] = await Promise.all([authorizer.store.findUserById(decision.subject), authorizer.store.findKeyById(session.keyId)])
    if (user === null || key === null) throw new HttpError('NOT_AUTHENTICATED', 'not signed in')
    return {
      csrfToken: csrfTokenOf(token),
      expiresAt: session.expiresAt,
      key: { id: key.id, prefix: key.prefix, name: key.name },
      account: { id: user.id, email: user.email, name: user.name, role: user.role, parentId: user.parentId, restrictions: user.restrictions }
    }
  }
}

function credentialOf (session: ConsoleSession | null): { keyId: string; issuedAt: number; expiresAt: number } | null {
  return session === null ? null : { keyId: session.keyId, issuedAt: session.createdAt, expiresAt: session.expiresAt }
}

function cookieOf (request: FastifyRequest): string | null {
  const header = request.headers.cookie
  if (header === undefined) return null
  for (const part of header.split(';')) {
    const at = part.indexOf('=')
    if (at !== -1 && part.slice(0, at).trim() === CONSOLE_COOKIE) return part.slice(at + 1).trim()
  }
  return null
}

function cookie (request: FastifyRequest, token: string, maxAge: number): string {
  const secure = request.protocol === 'https' ? '; Secure' : ''
  return `${CONSOLE_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`
}

/** Read once at start: the console's files, and the view library from node_modules (its bare `preact` import made relative). */
function loadAssets (): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of readdirSync(CONSOLE_DIR, { recursive: true }) as string[]) {
    const type = TYPES[extname(name)]
    if (type !== undefined) assets.set(name.split('\\').join('/'), { body: readFileSync(join(CONSOLE_DIR, name)), type })
  }
  const require = createRequire(import.meta.url)
  const mjs = (specifier: string): string => readFileSync(require.resolve(specifier).replace(/\.js$/, '.mjs'), 'utf8')
  const js = TYPES['.js'] as string
  assets.set('vendor/preact.mjs', { body: Buffer.from(mjs('preact')), type: js })
  assets.set('vendor/hooks.mjs', { body: Buffer.from(mjs('preact/hooks').replaceAll('from"preact"', 'from"./preact.mjs"')), type: js })
  assets.set('vendor/htm.mjs', { body: Buffer.from(mjs('htm')), type: js })
  // The endpoint catalogue, for the Policy page's matrix.
  assets.set('routes.tsv', { body: readFileSync(CATALOGUE_PATH), type: TYPES['.tsv'] as string })
  return assets
}

export const consolePlugin = fp(consoleRoutes, { fastify: '5.x', name: 'keygate-console' })
