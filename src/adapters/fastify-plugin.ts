import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Authorizer } from '../authorizer/authorizer.js'
import type { AuthorizationResult, AuthorizeRequest } from '../authorizer/result.js'
import type { ConsoleCredential } from '../credentials/parse.js'
import { denialOf, distinctHeaders, type HttpAnswer } from './http.js'

export interface KeygatePluginOptions {
  authorizer: Pick<Authorizer, 'authorize'>
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The decision for this request; set before any handler of a protected scope runs. */
    keygate: AuthorizationResult | null
    /** The console session its cookie opened (`session` null: none live), set by Keygate's own server only; null: no console cookie. */
    keygateConsole: { session: ConsoleCredential | null } | null
  }
}

/**
 * Authorizes every request of the scope it is registered in, before the body
 * is read. Allowed requests carry the decision as `request.keygate`; refused
 * ones are answered 401/403/429/503 exactly as the standalone server answers them;
 * under a rate limit or quota, every answer carries the RateLimit headers.
 */
const keygate: FastifyPluginAsync<KeygatePluginOptions> = async (fastify, options) => {
  if (typeof options?.authorizer?.authorize !== 'function') {
    throw new TypeError('keygate plugin: options.authorizer must be an Authorizer (from createAuthorizer())')
  }
  const { authorizer } = options
  fastify.decorateRequest('keygate', null)
  fastify.addHook('onRequest', async (request, reply) => {
    const result = await authorizer.authorize(authorizeRequestOf(request))
    request.keygate = result
    if (!result.allow) return sendAnswer(reply, denialOf(result))
    if (result.rateLimit !== undefined) reply.header('ratelimit-policy', result.rateLimit.policy).header('ratelimit', result.rateLimit.state)
  })
}

/** What the authorizer needs from a Fastify request. */
export function authorizeRequestOf (request: FastifyRequest): AuthorizeRequest {
  return {
    method: request.method,
    path: request.url,
    headers: distinctHeaders(request.raw.rawHeaders),
    scheme: schemeOf(request),
    client: { address: request.ip },
    ...(request.keygateConsole == null ? {} : { console: request.keygateConsole.session })
  }
}

/** `https` from TLS here or, behind a trusted proxy (Fastify's `trustProxy`), from X-Forwarded-Proto. */
export function schemeOf (request: FastifyRequest): 'http' | 'https' {
  return request.protocol === 'https' ? 'https' : 'http'
}

export function sendAnswer (reply: FastifyReply, answer: HttpAnswer): FastifyReply {
  return reply.code(answer.status).headers(answer.headers).send(answer.body)
}

export const keygatePlugin = fp(keygate, { fastify: '5.x', name: 'keygate' })
export default keygatePlugin
