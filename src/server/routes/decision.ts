import type { FastifyPluginAsync } from 'fastify'
import type { Authorizer } from '../../authorizer/authorizer.js'
import type { AuthorizeRequest } from '../../authorizer/result.js'
import { MAX_AUTHORIZATION_LENGTH } from '../../credentials/parse.js'
import { errorResponse } from '../schemas.js'

export interface DecisionRoutesOptions {
  authorizer: Pick<Authorizer, 'authorize'>
  /** Put the policy's reasons in the answer; off by default (see README "Decision API"). */
  decisionReasons: boolean
}

const headerValue = { type: 'string', maxLength: MAX_AUTHORIZATION_LENGTH + 1 }

const body = {
  type: 'object',
  additionalProperties: false,
  required: ['method', 'path'],
  properties: {
    method: { type: 'string', pattern: '^[A-Za-z]{1,20}$' },
    path: { type: 'string', minLength: 1, maxLength: 8192, description: 'request target; a query string is ignored' },
    headers: {
      type: 'object',
      maxProperties: 100,
      additionalProperties: { anyOf: [headerValue, { type: 'array', maxItems: 8, items: headerValue }] },
      description: 'as received; an array holds every value of a repeated header'
    },
    scheme: { type: 'string', enum: ['http', 'https'], description: 'how the client reached you; default http' }
  }
} as const

const reason = { type: 'object', properties: { code: { type: 'string' }, msg: { type: 'string' } } }
const decision = {
  type: 'object',
  properties: {
    allow: { type: 'boolean' },
    status: { type: 'integer', enum: [200, 401, 403, 503] },
    code: { type: 'string', enum: ['OK', 'NOT_AUTHENTICATED', 'NOT_AUTHORIZED', 'SERVICE_UNAVAILABLE'] },
    reasons: { type: 'array', items: reason, description: 'only with KEYGATE_DECISION_REASONS=true' },
    subject: { type: ['string', 'null'] },
    actor: { type: ['string', 'null'] },
    credential: {
      type: 'object',
      properties: { type: { type: 'string' }, id: { type: ['string', 'null'] }, prefix: { type: ['string', 'null'] } }
    },
    action: {
      type: ['object', 'null'],
      properties: { resource: { type: 'string' }, verb: { type: 'string' }, class: { type: 'string' } }
    },
    decisionId: { type: 'string' },
    policyRevision: { type: ['string', 'null'] }
  },
  required: ['allow', 'status', 'code', 'subject', 'actor', 'credential', 'action', 'decisionId', 'policyRevision']
}

export const decisionRoutes: FastifyPluginAsync<DecisionRoutesOptions> = async (app, { authorizer, decisionReasons }) => {
  app.post<{ Body: AuthorizeRequest }>('/v1/authorize', {
    schema: {
      summary: 'Decide one request; the decision is in the body, always with HTTP 200',
      tags: ['decision'],
      body,
      response: { 200: decision, 400: errorResponse }
    }
  }, async (request) => {
    const { method, path, headers = {}, scheme } = request.body
    const { reasons, ...result } = await authorizer.authorize({ method, path, headers, scheme })
    return decisionReasons ? { ...result, reasons } : result
  })
}
