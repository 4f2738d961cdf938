import type { FastifyPluginAsync } from 'fastify'
import type { Authorizer } from '../../authorizer/authorizer.js'
import type { PolicyStatus } from '../../policy/source.js'
import type { ServerMetrics } from '../metrics.js'
import { storeAnswers } from '../readiness.js'

export interface OperationsOptions {
  authorizer: Pick<Authorizer, 'store' | 'policy' | 'policySource'>
  metrics: ServerMetrics
}

const tags = ['operations']

/** The policy deciding now, and how reloading went: in /readyz and the operator's overview. */
export const policySchema = {
  type: 'object',
  description: 'The policy deciding now, and how reloading went (failed bundles leave it in place)',
  properties: {
    revision: { type: 'string' },
    loadedAt: { type: 'string', format: 'date-time' },
    reloads: { type: 'integer' },
    failures: { type: 'integer' },
    lastFailureAt: { type: ['string', 'null'], format: 'date-time' }
  }
} as const

export function policyView (policy: PolicyStatus): { revision: string; loadedAt: string; reloads: number; failures: number; lastFailureAt: string | null } {
  return {
    revision: policy.revision,
    loadedAt: policy.loadedAt.toISOString(),
    reloads: policy.reloads,
    failures: policy.failures,
    lastFailureAt: policy.lastError?.at.toISOString() ?? null
  }
}

const readiness = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'unavailable'] },
    store: { type: 'string', enum: ['ok', 'unavailable'] },
    policyRevision: { type: 'string' },
    policy: policySchema
  }
}

export const operationsRoutes: FastifyPluginAsync<OperationsOptions> = async (app, { authorizer, metrics }) => {
  app.get('/healthz', {
    schema: { summary: 'The process is up', tags, response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } }
  }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    schema: { summary: 'The store answers (and, by construction, a policy is loaded)', tags, response: { 200: readiness, 503: readiness } }
  }, async (request, reply) => {
    const storeOk = await storeAnswers(authorizer.store, (error) => { request.log.warn({ err: error }, 'readiness: the store did not answer') })
    // An authorizer cannot exist without a policy that passed its canary evaluation.
    const policy = policyView(authorizer.policySource.status())
    return reply.code(storeOk ? 200 : 503).send({
      status: storeOk ? 'ready' : 'unavailable',
      store: storeOk ? 'ok' : 'unavailable',
      policyRevision: policy.revision,
      policy
    })
  })

  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics', tags, produces: ['text/plain'] }
  }, async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
