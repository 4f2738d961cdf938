import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Authorizer } from '../../authorizer/authorizer.js'
import { schemeOf, sendAnswer } from '../../adapters/fastify-plugin.js'
import { FORWARD_AUTH_PATH, forwardedRequest } from '../../adapters/forward-auth.js'
import { denialOf, distinctHeaders, identityHeadersOf } from '../../adapters/http.js'
import { HttpError } from '../errors.js'
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

export const forwardAuthRoutes: FastifyPluginAsync<{ authorizer: Pick<Authorizer, 'authorize'> }> = async (app, { authorizer }) => {
  // Only the headers matter: whatever body a proxy forwards is left unread.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const headers = distinctHeaders(request.raw.rawHeaders)
    const target = forwardedRequest(request.method, request.url, headers)
    if (!target.ok) throw new HttpError('INVALID_REQUEST', target.problem)
    const result = await authorizer.authorize({
      method: target.method,
      path: target.path,
      headers,
      scheme: schemeOf(request),
      // The client as a trusted proxy reports it (X-Forwarded-For, see KEYGATE_TRUST_PROXY), else the peer.
      client: { address: request.ip }
    })
    if (!result.allow) return sendAnswer(reply, denialOf(result))
    return reply.code(200).headers(identityHeadersOf(result)).send()
  }
  app.all(FORWARD_AUTH_PATH, { schema }, handler)
  app.all(`${FORWARD_AUTH_PATH}/*`, { schema }, handler)
}
