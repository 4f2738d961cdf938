import { createRequire } from 'node:module'
import type { FastifyPluginAsync } from 'fastify'
import type { Audit } from '../../audit/audit.js'
import type { Authorizer } from '../../authorizer/authorizer.js'
import type { ServerMetrics } from '../metrics.js'
import { storeAnswers } from '../readiness.js'
import { deniedResponses } from '../schemas.js'
import { policySchema, policyView } from './operations.js'

export interface OverviewOptions {
  authorizer: Pick<Authorizer, 'store' | 'policySource'>
  metrics: Pick<ServerMetrics, 'decisionsByStatus'>
  /** The audit stage whose buffer is shown; null: none attached (the decision log's parts are then null). */
  audit: Pick<Audit, 'log' | 'config' | 'store'> | null
  /** Epoch milliseconds, for the last hour's window and the uptime. */
  clock: () => number
}

const HOUR_MS = 3_600_000
const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string }
const startedAt = new Date(Date.now() - Math.round(process.uptime() * 1000))

const counts = (key: string, description: string): object => ({
  type: 'array',
  description,
  items: { type: 'object', properties: { [key]: { type: key === 'status' ? 'integer' : 'string' }, count: { type: 'integer' } }, required: [key, 'count'] }
})

const overviewResponse = {
  type: 'object',
  properties: {
    at: { type: 'integer', description: 'epoch milliseconds of this answer' },
    instance: {
      type: 'object',
      description: 'the instance that answered',
      properties: {
        version: { type: 'string' },
        startedAt: { type: 'string', format: 'date-time' },
        store: { type: 'string', enum: ['ok', 'unavailable'] },
        decisions: counts('status', 'decisions of this process since it started, by HTTP status')
      }
    },
    policy: policySchema,
    lastHour: {
      type: ['object', 'null'],
      description: 'the decision log of every instance over the last hour; null when it is not kept in PostgreSQL, or the store did not answer',
      properties: {
        from: { type: 'string', format: 'date-time' },
        decisions: counts('status', 'by HTTP status; allowed reads may have been sampled out under pressure, denials and faults never are'),
        securityEvents: counts('event', 'by event')
      }
    },
    decisionLog: {
      type: ['object', 'null'],
      description: 'this instance\'s decision-log buffer; null when the decision log is off',
      properties: {
        sinks: { type: 'array', items: { type: 'string' } },
        capacity: { type: 'integer', description: 'KEYGATE_DECISION_LOG_BUFFER' },
        depth: { type: 'integer', description: 'entries in memory, waiting or being written' },
        waiting: { type: 'integer', description: 'decisions waiting for room (backpressure)' },
        logged: { type: 'integer' },
        written: { type: 'integer' },
        sampled: { type: 'integer' },
        dropped: { type: 'integer' },
        lost: { type: 'integer' }
      }
    }
  },
  required: ['at', 'instance', 'policy', 'lastHour', 'decisionLog']
} as const

/** The operator's overview (the console's Overview page): health, policy, decision counts, the decision log's state. Admin accounts only. */
export const overviewRoutes: FastifyPluginAsync<OverviewOptions> = async (app, { authorizer, metrics, audit, clock }) => {
  app.get('/admin/v1/overview', {
    schema: {
      summary: 'Instance health, the policy and its last reload, decision counts, the decision-log buffer and the last hour\'s security events',
      tags: ['admin'],
      response: { 200: overviewResponse, ...deniedResponses }
    }
  }, async (request) => {
    const at = clock()
    const inStore = audit !== null && audit.config.sinks.some((sink) => sink.type === 'postgres')
    const [storeOk, lastHour] = await Promise.all([
      storeAnswers(authorizer.store, (error) => { request.log.warn({ err: error }, 'overview: the store did not answer') }),
      inStore
        ? audit.store.countsSince(new Date(at - HOUR_MS)).catch((error: unknown) => { request.log.warn({ err: error }, 'overview: the decision log did not answer'); return null })
        : null
    ])
    const log = audit?.log ?? null
    return {
      at,
      instance: {
        version,
        startedAt: startedAt.toISOString(),
        store: storeOk ? 'ok' : 'unavailable',
        decisions: [...metrics.decisionsByStatus()].sort(([a], [b]) => a - b).map(([status, count]) => ({ status, count }))
      },
      policy: policyView(authorizer.policySource.status()),
      lastHour: lastHour === null ? null : { from: new Date(at - HOUR_MS).toISOString(), ...lastHour },
      decisionLog: log === null || audit === null
        ? null
        : { sinks: audit.config.sinks.map((sink) => sink.type), capacity: audit.config.bufferSize, depth: log.depth, waiting: log.waiting, ...log.stats }
    }
  })
}
