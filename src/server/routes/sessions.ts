import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { keygatePlugin } from '../../adapters/fastify-plugin.js'
import type { Authorizer } from '../../authorizer/authorizer.js'
import { MAX_ALLOWED_ROUTES, type Sessions } from '../../sessions/index.js'
import type { Store } from '../../store/index.js'
import { actorOf, grantableScopes, subjectOf } from '../caller.js'
import { HttpError } from '../../errors.js'
import { deniedResponses, errorResponse, idParams, idResponse } from '../schemas.js'

export interface SessionRoutesOptions {
  authorizer: Pick<Authorizer, 'authorize' | 'store'>
  sessions: Pick<Sessions, 'mint' | 'end' | 'jwks'>
}

/** Clients and proxies may keep the key set this long; a rotated-in key is also picked up on an unknown `kid`. */
const JWKS_MAX_AGE_SECONDS = 300

const allowedRoutes = {
  type: ['array', 'null'],
  maxItems: MAX_ALLOWED_ROUTES,
  items: { type: 'string', minLength: 1, maxLength: 200 },
  description: 'globs over the path after /api/v1/ (`bot/**`, `!bot/*/delete`); omitted or null: every route'
}
// null is allowed where @chatbotkit/sdk's request types allow it, and means "not given".
const durationInSeconds = { type: ['integer', 'null'], minimum: 1, description: 'default 900; at most the operator\'s maximum' }
// contactId and namespace are what @chatbotkit/sdk may send for ChatBotKit's own use: accepted, ignored.
const ignored = { type: ['string', 'null'], maxLength: 256, description: 'accepted for @chatbotkit/sdk, ignored' }
const config = { type: ['object', 'null'], additionalProperties: false, properties: { allowedRoutes, contactId: ignored, namespace: ignored } }
const sessionResponse = {
  type: 'object',
  properties: { id: { type: 'string' }, token: { type: 'string' }, expiresAt: { type: 'integer', description: 'epoch milliseconds' } },
  required: ['id', 'token', 'expiresAt']
}
const tags = ['session']
const responses = { 200: sessionResponse, ...deniedResponses, 404: errorResponse }

interface SessionBody {
  durationInSeconds?: number | null
  allowedRoutes?: string[] | null
  config?: { allowedRoutes?: string[] | null } | null
}

/**
 * Session tokens over HTTP: minting for the caller (or the child it runs as)
 * and for a child, ending one, and the public JWKS. Every session route is
 * authorized by the policy first (it classes them as management, which only a
 * secret key may do); the JWKS is public.
 */
export const sessionRoutes: FastifyPluginAsync<SessionRoutesOptions> = async (app, { authorizer, sessions }) => {
  if (typeof sessions?.mint !== 'function') throw new TypeError('session routes: options.sessions must be a Sessions object')
  const { store } = authorizer

  app.get('/.well-known/jwks.json', {
    schema: { summary: 'Public keys that verify session tokens (RFC 7517)', tags }
  }, async (_request, reply) => {
    const jwks = await sessions.jwks()
    return await reply
      .header('content-type', 'application/jwk-set+json; charset=utf-8')
      .header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      .send(JSON.stringify(jwks))
  })

  await app.register(async (scope) => {
    await scope.register(keygatePlugin, { authorizer })
    // A POST without a body is an empty object, so that `{}` may be left out.
    scope.addHook('preValidation', async (request) => {
      if (request.body === undefined) request.body = {}
    })

    scope.post<{ Body: SessionBody }>('/api/v1/session/create', {
      schema: {
        summary: 'Create a session token for the caller, or for the child it runs as',
        tags,
        body: { type: 'object', additionalProperties: false, properties: { durationInSeconds, allowedRoutes, config } },
        response: responses
      }
    }, async (request) => {
      const { body } = request
      if (body.allowedRoutes != null && body.config?.allowedRoutes != null) {
        throw new HttpError('INVALID_REQUEST', 'give allowedRoutes at the top level or in config, not both')
      }
      await requireFullAccessKey(store, request)
      return await sessions.mint({
        userId: subjectOf(request),
        actorId: actorOf(request),
        durationInSeconds: body.durationInSeconds,
        allowedRoutes: body.allowedRoutes ?? body.config?.allowedRoutes
      })
    })

    scope.post<{ Params: { id: string }, Body: Omit<SessionBody, 'allowedRoutes'> }>('/api/v1/partner/user/:id/session/create', {
      schema: {
        summary: 'Create a session token for a child account',
        tags: ['partner', ...tags],
        params: idParams,
        body: { type: 'object', additionalProperties: false, properties: { durationInSeconds, config } },
        response: responses
      }
    }, async (request) => {
      const parentId = subjectOf(request)
      const child = await store.findUserById(request.params.id)
      // Another parent's child, a grandchild or a deleted account: the same 404 as an id that never existed.
      if (child === null || child.parentId !== parentId || child.status === 'deleted') throw new HttpError('NOT_FOUND')
      await requireFullAccessKey(store, request)
      return await sessions.mint({
        userId: child.id, actorId: parentId, durationInSeconds: request.body.durationInSeconds, allowedRoutes: request.body.config?.allowedRoutes
      })
    })

    scope.post<{ Params: { id: string } }>('/api/v1/session/:id/delete', {
      schema: {
        summary: 'End one of the caller\'s sessions, at once',
        tags,
        params: idParams,
        body: { type: 'object', additionalProperties: false },
        response: { 200: idResponse, ...deniedResponses, 404: errorResponse }
      }
    }, async (request) => {
      await sessions.end(request.params.id, subjectOf(request))
      return { id: request.params.id }
    })
  })
}

/**
 * A session carries every right of its user, so only a full-access key may
 * mint one: a scoped key could otherwise trade itself for wider rights. (The
 * policy already lets nothing but a secret key reach these routes.)
 */
async function requireFullAccessKey (store: Store, request: FastifyRequest): Promise<void> {
  // Asking for no particular scopes yields null exactly when the caller's key has full access.
  if (await grantableScopes(store, request, null) !== null) throw new HttpError('NOT_AUTHORIZED')
}
