import type { FastifyPluginAsync } from 'fastify'
import { AuditStore, type AuditFilter } from '../../audit/store.js'
import { parseTime } from '../../audit/time.js'
import type { Store } from '../../store/store.js'
import { HttpError } from '../../errors.js'
import { keyUsageView } from '../views.js'
import { deniedResponses, errorResponse, idParams, listOf } from '../schemas.js'

const tags = ['audit']

interface ListQuery {
  decisionId?: string
  userId?: string
  keyId?: string
  status?: string
  kind?: 'decision' | 'security'
  from?: string
  to?: string
  cursor?: string
  take?: string
}

const time = { type: 'string', maxLength: 40, description: 'epoch milliseconds or an RFC 3339 date-time' }

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    decisionId: { type: 'string', minLength: 1, maxLength: 64, description: 'a decision and the security events it raised' },
    userId: { type: 'string', minLength: 1, maxLength: 64, description: 'as subject or as actor' },
    keyId: { type: 'string', minLength: 1, maxLength: 64, description: 'key or session id' },
    status: { type: 'string', enum: ['200', '400', '401', '403', '429', '503'] },
    kind: { type: 'string', enum: ['decision', 'security'] },
    from: { ...time, description: `${time.description}; inclusive` },
    to: { ...time, description: `${time.description}; exclusive` },
    cursor: { type: 'string', minLength: 1, maxLength: 512 },
    take: { type: 'string', pattern: '^(100|[1-9][0-9]?)$', description: 'page size, 1 to 100' }
  }
} as const

const entry = {
  type: 'object',
  additionalProperties: true,
  description: 'a decision-log entry (OPA field names: decision_id, timestamp, path, input, result, bundles, metrics; and Keygate\'s) or a security event'
}

const usageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { days: { type: 'string', pattern: '^([1-9][0-9]{0,2})$', description: 'how many days back, 1 to 999 (default 30)' } }
} as const

const usageResponse = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    lastUsedAt: { type: ['integer', 'null'], description: 'epoch milliseconds' },
    requestCount: { type: 'integer' },
    days: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          day: { type: 'string', description: 'UTC, YYYY-MM-DD' },
          requests: { type: 'integer' },
          denied: { type: 'integer', description: 'of which refused (403)' },
          lastUsedAt: { type: 'integer' }
        }
      }
    }
  },
  required: ['id', 'lastUsedAt', 'requestCount', 'days']
} as const

/** The operator's view of the audit tables: any account's decisions and keys, for admin accounts only (the policy's `admin` class). */
export const auditRoutes: FastifyPluginAsync<{ store: Pick<Store, 'database'> }> = async (app, { store }) => {
  const audit = new AuditStore(store.database)

  app.get<{ Querystring: ListQuery }>('/admin/v1/audit/list', {
    schema: {
      summary: 'Decision-log entries and security events, newest first',
      tags,
      querystring: listQuery,
      response: { 200: listOf(entry), ...deniedResponses }
    }
  }, async (request) => {
    const page = await audit.list(auditFilterOf(request.query))
    return page.nextCursor === null ? { items: page.items } : { items: page.items, cursor: page.nextCursor }
  })

  app.get<{ Params: { id: string }; Querystring: { days?: string } }>('/admin/v1/key/:id/usage', {
    schema: {
      summary: 'A key\'s last use, request count and daily counts',
      tags,
      params: idParams,
      querystring: usageQuery,
      response: { 200: usageResponse, ...deniedResponses, 404: errorResponse }
    }
  }, async (request) => {
    const days = Number(request.query.days ?? 30)
    const report = await audit.keyUsage(request.params.id, sinceDays(days))
    if (report === null) throw new HttpError('NOT_FOUND')
    return keyUsageView(report)
  })
}

/** The first UTC day of the last `days` days, today included. */
export function sinceDays (days: number, now = Date.now()): string {
  return new Date(now - (days - 1) * 86_400_000).toISOString().slice(0, 10)
}

/** Query text to a filter; a malformed time is a 400. */
export function auditFilterOf (query: ListQuery): AuditFilter {
  return {
    decisionId: query.decisionId,
    userId: query.userId,
    keyId: query.keyId,
    status: query.status === undefined ? undefined : Number(query.status),
    kind: query.kind,
    from: parseTime('from', query.from),
    to: parseTime('to', query.to),
    cursor: query.cursor,
    take: query.take === undefined ? undefined : Number(query.take)
  }
}
