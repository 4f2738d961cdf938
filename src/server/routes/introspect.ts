import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { schemeOf, sendAnswer } from '../../adapters/fastify-plugin.js'
import { denialOf, distinctHeaders } from '../../adapters/http.js'
import { INTROSPECTION_ACTION, introspectionAnswer } from '../../adapters/introspection.js'
import type { Authorizer } from '../../authorizer/authorizer.js'
import { HttpError } from '../../errors.js'

export interface IntrospectionRoutesOptions {
  authorizer: Pick<Authorizer, 'authorize' | 'explain'>
}

export const INTROSPECTION_PATH = '/oauth2/introspect'

const FORM = 'application/x-www-form-urlencoded'
// RFC 6750 §2.1 b64token: anything else cannot be a Keygate credential.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
// Decided like any token outside the grammar: malformed, without a lookup.
const MALFORMED = 'Bearer !'
/** Not a form: told apart from an empty one. */
const NOT_A_FORM = Symbol('not a form')

const activeToken = {
  type: 'object',
  description: 'RFC 7662 §2.2; exactly {"active":false} for any token that is not active',
  properties: {
    active: { type: 'boolean' },
    sub: { type: 'string' },
    scope: { type: 'string', description: 'the key\'s scopes, space-separated; * for full access; absent for a session' },
    client_id: { type: 'string', description: 'key or session id' },
    token_type: { type: 'string', enum: ['Bearer'] },
    exp: { type: 'integer' },
    iat: { type: 'integer' },
    act: { type: 'object', properties: { sub: { type: 'string' } } },
    keygate: {
      type: 'object',
      properties: {
        credential: { type: 'string', enum: ['secret_key', 'session'] },
        allowedRoutes: { type: ['array', 'null'], items: { type: 'string' } },
        restrictions: { type: 'array', items: { type: 'string' } }
      }
    }
  },
  required: ['active']
}
const oauthError = { type: 'object', properties: { error: { type: 'string' }, error_description: { type: 'string' } }, required: ['error'] }
const keygateError = { type: 'object', properties: { message: { type: 'string' }, code: { type: 'string' } } }

/**
 * RFC 7662 token introspection for gateways (Kong, Oathkeeper): the caller
 * authenticates with its own bearer credential and is authorized as
 * INTROSPECTION_ACTION by the policy (admins by default); the token is then
 * decided by the same pipeline as any request. Not a decision of record: the
 * caller's authorization is logged, the introspected token's evaluation is not.
 */
export const introspectionRoutes: FastifyPluginAsync<IntrospectionRoutesOptions> = async (app, { authorizer }) => {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => { done(null, new URLSearchParams(body as string)) })
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null, NOT_A_FORM) })

  // Before the body is read: who may not introspect learns nothing from it.
  app.addHook('onRequest', async (request, reply) => {
    const caller = await authorizer.authorize({
      ...INTROSPECTION_ACTION, headers: distinctHeaders(request.raw.rawHeaders), scheme: schemeOf(request), client: { address: request.ip }
    })
    if (!caller.allow) return sendAnswer(reply, denialOf(caller))
  })

  app.post<{ Body: URLSearchParams | typeof NOT_A_FORM | undefined }>(INTROSPECTION_PATH, {
    schema: {
      summary: 'RFC 7662 token introspection: is this secret key or session token active, and whose is it?',
      description: `Form parameters token (required) and token_type_hint (ignored). The caller is authorized as ${INTROSPECTION_ACTION.method} ${INTROSPECTION_ACTION.path}.`,
      tags: ['decision'],
      security: [{ bearer: [] }],
      response: { 200: activeToken, 400: oauthError, 401: keygateError, 403: keygateError, 503: keygateError }
    }
  }, async (request, reply) => {
    const form = request.body
    if (!(form instanceof URLSearchParams)) return invalidRequest(reply, `the body must be ${FORM}`)
    const tokens = form.getAll('token')
    // RFC 6749 §3.1: no parameter more than once.
    if (tokens.length !== 1 || tokens[0] === '') return invalidRequest(reply, 'send the token parameter once')
    if (form.getAll('token_type_hint').length > 1) return invalidRequest(reply, 'send token_type_hint at most once')
    const token = tokens[0] as string
    // The hint is ignored (RFC 7662 §2.1 allows it): a token's format says what it is.
    const record = await authorizer.explain({
      ...INTROSPECTION_ACTION, headers: { authorization: B64TOKEN.test(token) ? `Bearer ${token}` : MALFORMED }, scheme: 'https'
    })
    const answer = introspectionAnswer(record)
    if (answer === null) throw new HttpError('SERVICE_UNAVAILABLE')
    return sendAnswer(reply, answer)
  })
}

function invalidRequest (reply: FastifyReply, description: string): FastifyReply {
  return reply.code(400).header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify({ error: 'invalid_request', error_description: description }))
}
