import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Authorizer } from '../../authorizer/authorizer.js'
import { FORWARD_AUTH_PATH } from '../../adapters/forward-auth.js'
import { forwardAuthListener, type TrustProxy } from '../../adapters/node-http.js'
import { errorResponse } from '../schemas.js'

const identity = {
  description: 'Allowed: identity headers for the upstream, empty body',
  headers: {
    type: 'object',
    properties: {
      'x-keygate-user-id': { type: 'string', description: 'the subject (the child when impersonating)' },
      'x-keygate-actor-id': { type: 'string', description: 'the parent, only while impersonating' },
      'x-keygate-key-id': { type: 'string', description: 'key or session id' },
      'x-keygate-credential': { type: 'string', enum: ['secret_key', 'session'] },
      'x-keygate-decision-id': { type: 'string' }
    }
  },
  type: 'null'
}

const schema = {
  summary: 'Forward authentication for nginx auth_request, Caddy forward_auth, Traefik ForwardAuth and Envoy ext_authz',
  tags: ['decision'],
  response: { 200: identity, 400: errorResponse, 401: errorResponse, 403: errorResponse, 503: errorResponse }
}

export interface ForwardAuthRouteOptions {
  authorizer: Pick<Authorizer, 'authorize'>
  /** The app's own `trustProxy`. */
  trustProxy?: TrustProxy
}

/**
 * The forward-auth endpoint as a Fastify route: for the OpenAPI document and
 * `inject()`. `keygate serve` answers these URLs before Fastify routes them
 * (see buildApp), with the same listener.
 */
export const forwardAuthRoutes: FastifyPluginAsync<ForwardAuthRouteOptions> = async (app, options) => {
  const listener = forwardAuthListener({ authorizer: options.authorizer, trustProxy: options.trustProxy, log: app.log })
  // Only the headers matter: whatever body a proxy forwards is left unread.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.hijack()
    listener(request.raw, reply.raw)
  }
  app.all(FORWARD_AUTH_PATH, { schema }, handler)
  app.all(`${FORWARD_AUTH_PATH}/*`, { schema }, handler)
}
