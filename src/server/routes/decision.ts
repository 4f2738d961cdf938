import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { schemeOf, sendAnswer } from '../../adapters/fastify-plugin.js'
import { decisionCallers } from '../../adapters/decision-callers.js'
import { denialOf, disclosedResult, distinctHeaders } from '../../adapters/http.js'
import type { TrustProxy } from '../../adapters/node-http.js'
import { BundleRules, explainRecord } from '../../audit/explain.js'
import type { Authorizer } from '../../authorizer/authorizer.js'
import type { AuthorizeRequest } from '../../authorizer/result.js'
import { MAX_AUTHORIZATION_LENGTH } from '../../credentials/parse.js'
import { DEFAULT_BUNDLE_PATH } from '../../policy/engine.js'
import { errorResponse } from '../schemas.js'

export interface DecisionRoutesOptions {
  authorizer: Pick<Authorizer, 'authorize'> & Partial<Pick<Authorizer, 'explain'>>
  /** Put the policy's reasons in the answer; off by default (see docs/server.md "Decision API"). */
  decisionReasons: boolean
  /** The bundle the policy was loaded from, whose Rego sources `?explain=true` points into (default build/bundle.tar.gz). */
  policyBundle?: string
  /** The caller token (KEYGATE_DECISION_API_TOKEN); without it, only loopback callers are answered. */
  callerToken?: string
  /** The app's own `trustProxy`: such proxies may state the client's address. */
  trustProxy?: TrustProxy
}

/**
 * What the caller of `?explain=true` is authorized as: an admin action, so
 * the policy decides who may see why a decision came out as it did.
 */
export const EXPLAIN_ACTION_PATH = '/admin/v1/decision/explain'

const headerValue = { type: 'string', maxLength: MAX_AUTHORIZATION_LENGTH + 1 }

const body = {
  type: 'object',
  additionalProperties: false,
  required: ['method', 'path', 'headers'],
  properties: {
    method: { type: 'string', pattern: '^[A-Za-z]{1,20}$' },
    path: { type: 'string', minLength: 1, maxLength: 8192, description: 'request target; a query string is ignored' },
    headers: {
      type: 'object',
      maxProperties: 100,
      additionalProperties: { anyOf: [headerValue, { type: 'array', maxItems: 8, items: headerValue }] },
      description: 'as received; an array holds every value of a repeated header'
    },
    scheme: { type: 'string', enum: ['http', 'https'], description: 'how the client reached you; default http' },
    client: {
      type: 'object',
      additionalProperties: false,
      properties: { address: { type: 'string', maxLength: 64, description: 'the client\'s IP address, for the decision log (not seen by the policy); recorded only from a caller with the decision API token or a trusted proxy, else the caller\'s own address' } }
    }
  }
} as const

const query = {
  type: 'object',
  properties: {
    explain: { type: 'string', enum: ['true', 'false'], description: 'add the reasons and the rules that produced them (admin key in this call\'s own Authorization header)' }
  }
} as const

const reason = { type: 'object', properties: { code: { type: 'string' }, msg: { type: 'string' } } }
const decision = {
  type: 'object',
  properties: {
    allow: { type: 'boolean' },
    status: { type: 'integer', enum: [200, 400, 401, 403, 429, 503] },
    code: { type: 'string', enum: ['OK', 'INVALID_REQUEST', 'NOT_AUTHENTICATED', 'NOT_AUTHORIZED', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE'] },
    retryAfterSeconds: { type: 'integer', description: 'with a 429: seconds until the client may try again (send it as Retry-After)' },
    rateLimit: {
      type: 'object',
      properties: { policy: { type: 'string' }, state: { type: 'string' } },
      description: 'when the key or its account has limits: the values of the RateLimit-Policy and RateLimit headers to send the client'
    },
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
    policyRevision: { type: ['string', 'null'] },
    explanation: {
      type: 'object',
      additionalProperties: true,
      description: 'with ?explain=true: {rules: [{code, msg, rule, location}], input (masked), sourcesRevision, sources: author (lines of policies/) | bundle (lines of the bundle\'s reformatted copy)}'
    }
  },
  required: ['allow', 'status', 'code', 'subject', 'actor', 'credential', 'action', 'decisionId', 'policyRevision']
}

export const decisionRoutes: FastifyPluginAsync<DecisionRoutesOptions> = async (app, { authorizer, decisionReasons, policyBundle, callerToken, trustProxy }) => {
  const rules = new BundleRules(policyBundle ?? DEFAULT_BUNDLE_PATH)
  const callers = decisionCallers({ token: callerToken, trustProxy })
  // Requests whose caller may state the client's address (see decisionCallers).
  const stating = new WeakSet<FastifyRequest>()
  const explains = (request: FastifyRequest): boolean =>
    (request.query as { explain?: string }).explain === 'true' && authorizer.explain !== undefined
  // Before the body is read. An explanation is authorized by the policy instead, for the admin key the call carries.
  app.addHook('onRequest', async (request, reply) => {
    if (explains(request)) return
    const verdict = callers({ authorization: distinctHeaders(request.raw.rawHeaders).authorization, peer: request.socket.remoteAddress, address: request.ip })
    if (!verdict.ok) return sendAnswer(reply, verdict.answer)
    if (verdict.mayStateClient) stating.add(request)
  })
  app.post<{ Body: AuthorizeRequest; Querystring: { explain?: 'true' | 'false' } }>('/v1/authorize', {
    schema: {
      summary: 'Decide one request; the decision is in the body, always with HTTP 200',
      description: 'The caller sends the decision API token (KEYGATE_DECISION_API_TOKEN) as its own Authorization header; without a token configured, only loopback callers are answered. A 401 decision names no credential id or prefix.',
      tags: ['decision'],
      security: [{ bearer: [] }],
      body,
      querystring: query,
      response: { 200: decision, 400: errorResponse, 401: errorResponse, 403: errorResponse, 503: errorResponse }
    }
  }, async (request, reply) => {
    const { method, path, headers, scheme, client } = request.body
    if (explains(request) && authorizer.explain !== undefined) {
      // The caller's own credential, not the one being evaluated, must be allowed to see reasons.
      const caller = await authorizer.authorize({
        method: 'POST', path: EXPLAIN_ACTION_PATH, headers: distinctHeaders(request.raw.rawHeaders), scheme: schemeOf(request), client: { address: request.ip }
      })
      if (!caller.allow) return sendAnswer(reply, denialOf(caller))
      const record = await authorizer.explain({ method, path, headers, scheme })
      const { decision: result, ...explanation } = explainRecord(record, await rules.for(record.result.policyRevision))
      return { ...disclosedResult(result), explanation }
    }
    const stated = stating.has(request) && client?.address !== undefined
    const { reasons, ...result } = disclosedResult(await authorizer.authorize({ method, path, headers, scheme, client: stated ? client : { address: request.ip } }))
    return decisionReasons ? { ...result, reasons } : result
  })
}
