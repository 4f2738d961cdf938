import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { authorizeRequestOf } from '../../adapters/fastify-plugin.js'
import { BundleRules, explainRecord } from '../../audit/explain.js'
import { MAX_REPLAY_LIMIT, replayDecisions } from '../../audit/replay.js'
import { sinceOf } from '../../audit/time.js'
import { AuditStore } from '../../audit/store.js'
import type { Authorizer } from '../../authorizer/authorizer.js'
import type { DecisionRecord } from '../../authorizer/result.js'
import { DEFAULT_BUNDLE_PATH, PolicyEngine } from '../../policy/engine.js'
import { PolicyFault } from '../../policy/errors.js'
import { HttpError } from '../../errors.js'
import { subjectOf } from '../caller.js'
import { deniedResponses, emailProperty } from '../schemas.js'
import { EXPLAIN_ACTION_PATH } from './decision.js'

export interface PolicyRoutesOptions {
  authorizer: Pick<Authorizer, 'authorize' | 'explain' | 'store'>
  /** The bundle the policy was loaded from, whose Rego sources the reasons point into (default build/bundle.tar.gz). */
  policyBundle?: string
  /** Settings laid over a replayed bundle's data.keygate.config, as over the deciding one (KEYGATE_REQUIRE_HTTPS). */
  policyConfig?: Record<string, unknown>
}

export const MAX_CHECKS = 400
/** A built bundle is some 150 KB; the limit leaves room for large data tables. */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024
const NOT_YOURS = 'not a live credential of yours or of your sub-accounts'
const BUNDLE_TYPES = ['application/gzip', 'application/x-gzip', 'application/octet-stream']

interface Check { method: string; path: string; runAsUserId?: string; runAsEmail?: string; scheme?: 'http' | 'https' }
interface CheckBody { keyId?: string; sessionToken?: string; checks: Check[] }

const checkBody = {
  type: 'object',
  additionalProperties: false,
  required: ['checks'],
  properties: {
    keyId: { type: 'string', pattern: '^key_[0-9A-Za-z]{20}$', description: 'one of the caller\'s keys, or of its children\'s (any key, for an admin)' },
    sessionToken: { type: 'string', minLength: 1, maxLength: 8192, description: 'a session token (JWT) of the caller, or of its children (any, for an admin)' },
    checks: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_CHECKS,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['method', 'path'],
        properties: {
          method: { type: 'string', pattern: '^[A-Za-z]{1,20}$' },
          path: { type: 'string', pattern: '^/', maxLength: 2048 },
          runAsUserId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'as X-RunAs-User-ID' },
          runAsEmail: { ...emailProperty, description: 'as X-RunAs-Child-User-Email' },
          scheme: { type: 'string', enum: ['http', 'https'], description: 'default https' }
        }
      }
    }
  },
  oneOf: [{ required: ['keyId'] }, { required: ['sessionToken'] }]
} as const

const reasonView = {
  type: 'object',
  properties: { code: { type: 'string' }, msg: { type: 'string' }, rule: { type: ['string', 'null'] }, location: { type: ['string', 'null'] } }
}
const actionView = { type: ['object', 'null'], properties: { resource: { type: 'string' }, verb: { type: 'string' }, class: { type: 'string' } } }

const checkResponse = {
  type: 'object',
  properties: {
    credential: {
      type: 'object',
      properties: { type: { type: 'string' }, id: { type: ['string', 'null'] }, prefix: { type: ['string', 'null'] }, owner: { type: 'string' } }
    },
    policyRevision: { type: ['string', 'null'] },
    reasonsShown: { type: 'boolean', description: 'reasons and rules are shown to callers the policy lets explain decisions (admins)' },
    sources: { type: ['string', 'null'], description: 'author: lines of policies/; bundle: lines of the bundle\'s reformatted copy' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          method: { type: 'string' },
          path: { type: 'string' },
          runAsUserId: { type: 'string' },
          runAsEmail: { type: 'string' },
          allow: { type: 'boolean' },
          status: { type: 'integer' },
          code: { type: 'string' },
          subject: { type: ['string', 'null'] },
          actor: { type: ['string', 'null'] },
          action: actionView,
          reasons: { type: 'array', items: reasonView }
        }
      }
    }
  }
}

const outcome = {
  type: 'object',
  properties: { allow: { type: 'boolean' }, status: { type: 'integer' }, code: { type: 'string' }, reasons: { type: 'array', items: { type: 'string' } } }
}

const replayResponse = {
  type: 'object',
  properties: {
    revision: { type: 'string' },
    since: { type: ['string', 'null'] },
    limit: { type: 'integer' },
    read: { type: 'integer' },
    replayed: { type: 'integer' },
    faults: { type: 'integer' },
    changes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          decisionId: { type: 'string' },
          timestamp: { type: 'string' },
          method: { type: 'string' },
          path: { type: 'string' },
          route: { type: 'string' },
          subject: { type: ['string', 'null'] },
          actor: { type: ['string', 'null'] },
          revision: { type: 'string' },
          recorded: outcome,
          replayed: outcome,
          changed: { type: 'array', items: { type: 'string' } }
        }
      }
    },
    byRoute: {
      type: 'array',
      items: { type: 'object', properties: { route: { type: 'string' }, changed: { type: 'integer' }, toDeny: { type: 'integer' }, toAllow: { type: 'integer' } } }
    },
    byReason: {
      type: 'array',
      items: { type: 'object', properties: { reason: { type: 'string' }, added: { type: 'integer' }, removed: { type: 'integer' } } }
    }
  }
}

/**
 * The policy tools behind the console's Policy page (docs/policy.md):
 * deciding as one of the caller's credentials (`token/check`, a management
 * action), and replaying recorded decisions against a candidate bundle (an
 * admin action). Both sit behind the keygate plugin: the policy has allowed
 * the request before a handler runs.
 */
export const policyRoutes: FastifyPluginAsync<PolicyRoutesOptions> = async (app, { authorizer, policyBundle, policyConfig }) => {
  const { store } = authorizer
  const rules = new BundleRules(policyBundle ?? DEFAULT_BUNDLE_PATH)
  const audit = new AuditStore(store.database)

  /** Whether the policy lets the caller's own credential see why decisions come out as they do (admins). */
  const mayExplain = async (request: FastifyRequest): Promise<boolean> =>
    (await authorizer.explain({ ...authorizeRequestOf(request), method: 'POST', path: EXPLAIN_ACTION_PATH })).result.allow

  /** The caller may test credentials of its own account and of its children; an admin, any. */
  const owns = async (caller: string, admin: boolean, owner: string | null | undefined): Promise<boolean> => {
    if (admin || owner === caller) return typeof owner === 'string'
    // One lookup whether the credential is unknown or a stranger's: the 403's timing tells no more than its body.
    const user = await store.findUserById(typeof owner === 'string' ? owner : caller)
    return typeof owner === 'string' && user?.parentId === caller
  }

  app.post<{ Body: CheckBody }>('/api/v1/token/check', {
    schema: {
      summary: 'Decide requests as one of the caller\'s keys (by id) or session tokens, as the policy would decide them',
      description: 'Not a decision of record: nothing is logged or counted for the checked credential. A credential the caller may not test (not its own or a child\'s, unknown, or a session token that does not verify) is the same 403.',
      tags: ['token'],
      body: checkBody,
      response: { 200: checkResponse, ...deniedResponses }
    }
  }, async (request) => {
    const caller = subjectOf(request)
    const admin = await mayExplain(request)
    const { keyId, sessionToken, checks } = request.body
    if (keyId !== undefined && !await owns(caller, admin, (await store.findKeyById(keyId))?.userId)) throw new HttpError('NOT_AUTHORIZED', NOT_YOURS)
    const records: DecisionRecord[] = []
    for (const check of checks) {
      const headers: Record<string, string> = {}
      if (sessionToken !== undefined) headers.authorization = `Bearer ${sessionToken}`
      if (check.runAsUserId !== undefined) headers['x-runas-user-id'] = check.runAsUserId
      if (check.runAsEmail !== undefined) headers['x-runas-child-user-email'] = check.runAsEmail
      const decide = { method: check.method, path: check.path, headers, scheme: check.scheme ?? 'https' }
      records.push(await authorizer.explain(decide, keyId === undefined ? {} : { asKeyId: keyId }))
    }
    // A session token's owner is known once it verified: every decision must name one the caller may test.
    if (sessionToken !== undefined) {
      for (const owner of new Set(records.map((r) => r.input?.principal?.id))) if (!await owns(caller, admin, owner)) throw new HttpError('NOT_AUTHORIZED', NOT_YOURS)
    }
    const first = records[0] as DecisionRecord
    const index = admin ? await rules.for(first.result.policyRevision) : null
    const explained = records.map((record) => index === null ? null : explainRecord(record, index))
    return {
      credential: { ...first.result.credential, owner: first.input?.principal?.id },
      policyRevision: first.result.policyRevision,
      reasonsShown: admin,
      sources: explained[0]?.sources ?? null,
      results: records.map(({ result }, i) => {
        const check = checks[i] as Check
        const reasons = explained[i]?.rules
        return {
          ...check,
          allow: result.allow,
          status: result.status,
          code: result.code,
          subject: result.subject,
          actor: result.actor,
          action: result.action,
          ...(reasons === undefined ? {} : { reasons })
        }
      })
    }
  })

  // The bundle arrives as bytes; the policy has allowed the request before they are read.
  app.register(async (scope) => {
    scope.addContentTypeParser(BUNDLE_TYPES, { parseAs: 'buffer', bodyLimit: MAX_BUNDLE_BYTES }, (_request, body, done) => { done(null, body) })
    scope.post<{ Body: Buffer; Querystring: { since?: string; limit?: string } }>('/admin/v1/policy/replay', {
      bodyLimit: MAX_BUNDLE_BYTES,
      schema: {
        summary: 'Replay the last recorded decisions against a built bundle (opa build -t wasm, tar.gz) and list every decision that would change',
        description: `The body is the bundle's bytes, as ${BUNDLE_TYPES.join(', ')}, up to ${MAX_BUNDLE_BYTES / 1024 / 1024} MiB. Nothing is loaded or changed on the server.`,
        tags: ['admin'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', maxLength: 40, description: 'a duration back from now (30m, 24h, 7d), epoch milliseconds or an RFC 3339 date-time' },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,4}$', description: `the newest this many decisions, 1 to ${MAX_REPLAY_LIMIT} (default 1000)` }
          }
        },
        response: { 200: replayResponse, ...deniedResponses }
      }
    }, async (request) => {
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) throw new HttpError('INVALID_REQUEST', 'the body must be a bundle (tar.gz) built by opa build -t wasm')
      const since = request.query.since === undefined ? undefined : sinceOf('since', request.query.since)
      const limit = request.query.limit === undefined ? undefined : Number(request.query.limit)
      if (limit !== undefined && limit > MAX_REPLAY_LIMIT) throw new HttpError('INVALID_REQUEST', `limit must be a whole number from 1 to ${MAX_REPLAY_LIMIT}`)
      let candidate: PolicyEngine
      try {
        candidate = await PolicyEngine.fromBundle(request.body, { decisionCache: 0, config: policyConfig })
      } catch (error) {
        if (error instanceof PolicyFault) throw new HttpError('INVALID_REQUEST', `the bundle cannot be used: ${error.message}`)
        throw error
      }
      return await replayDecisions(audit, candidate, { since, limit })
    })
  })
}
