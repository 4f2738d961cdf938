import { EMAIL_PATTERN, MAX_EMAIL_LENGTH } from '../lib/email.js'
import { MAX_KEY_LIFETIME_SECONDS, MAX_SCOPES } from '../manage/keys.js'
import { RESTRICTIONS } from '../policy/restrictions.js'

/**
 * JSON Schemas shared by the routes. Fastify validates with them (no type
 * coercion, no removal of unknown fields: both are 400s) and @fastify/swagger
 * publishes them in the OpenAPI document.
 */

const nullableString = (maxLength: number): object => ({ type: ['string', 'null'], maxLength })
const epochMs = { type: 'integer', description: 'epoch milliseconds' }
const nullableEpochMs = { type: ['integer', 'null'], description: 'epoch milliseconds' }

/** An e-mail address in a request body: the same grammar as everywhere (src/lib/email.ts). */
export const emailProperty = { type: 'string', maxLength: MAX_EMAIL_LENGTH, pattern: EMAIL_PATTERN } as const

export const errorResponse = {
  type: 'object',
  properties: { message: { type: 'string' }, code: { type: 'string' } },
  required: ['message', 'code']
} as const

const pathId = { type: 'string', minLength: 1, maxLength: 64 } as const

export const idParams = {
  type: 'object',
  properties: { id: pathId },
  required: ['id']
} as const

/** `/…/user/{id}/<resource>/{<name>}/…`: an account and one of its records. */
export function nestedIdParams (name: string): object {
  return { type: 'object', properties: { id: pathId, [name]: pathId }, required: ['id', name] }
}

/**
 * Fields @chatbotkit/sdk may send that Keygate has no use for: accepted (so
 * that the SDK works unchanged) and ignored, never stored. Only their type is
 * checked; any other unknown field is still a 400.
 */
const ignored = {
  description: { type: ['string', 'null'], maxLength: 2000, description: 'accepted for @chatbotkit/sdk, ignored' },
  meta: { type: ['object', 'null'], maxProperties: 64, description: 'accepted for @chatbotkit/sdk, ignored' }
} as const
const ignoredObject = { type: ['object', 'null'], maxProperties: 64, description: 'accepted for @chatbotkit/sdk, ignored' } as const
export const ignoredUserFields = {
  ...ignored,
  image: { type: ['string', 'null'], maxLength: 2000, description: 'accepted for @chatbotkit/sdk, ignored' },
  limits: ignoredObject
} as const
export const ignoredKeyFields = { ...ignored, config: ignoredObject } as const

/** Query strings are text: `take` is checked as digits here and turned into a number by `pageOf`. */
export const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    cursor: { type: 'string', minLength: 1, maxLength: 512 },
    take: { type: 'string', pattern: '^(100|[1-9][0-9]?)$', description: 'page size, 1 to 100' },
    order: { type: 'string', enum: ['asc', 'desc'], description: 'creation order: asc (default, oldest first) or desc' }
  }
} as const

export interface PageQuery { cursor?: string; take?: string; order?: 'asc' | 'desc' }

const days = (description: string): object => ({ type: 'string', pattern: '^[1-9][0-9]{0,4}$', description: `${description}, 1 to 99999` })

/** A key list's page, its credential-report filters, and the daily counts to include. */
export const keyListQuery = {
  ...pageQuery,
  properties: {
    ...pageQuery.properties,
    unusedDays: days('only keys not used for this many days (never used: counted from creation)'),
    olderThanDays: days('only keys created more than this many days ago (rotation due)'),
    usageDays: { type: 'string', pattern: '^([1-9]|[1-8][0-9]|90)$', description: 'include each key\'s daily counts of the last this many UTC days, 1 to 90' }
  }
} as const

export interface KeyListQuery extends PageQuery { unusedDays?: string; olderThanDays?: string; usageDays?: string }

export function pageOf (query: PageQuery): { cursor?: string; take?: number; order?: 'asc' | 'desc' } {
  return { cursor: query.cursor, take: query.take === undefined ? undefined : Number(query.take), order: query.order }
}

export const idResponse = {
  type: 'object',
  properties: { id: { type: 'string' } },
  required: ['id']
} as const

export const keyRequestBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...ignoredKeyFields,
    name: nullableString(200),
    expiresInSeconds: { type: 'integer', minimum: 1, maximum: MAX_KEY_LIFETIME_SECONDS },
    scopes: {
      type: ['array', 'null'],
      maxItems: MAX_SCOPES,
      items: { type: 'string', maxLength: 100 },
      description: 'omitted or null: the caller\'s own scopes (full access for an unscoped key)'
    }
  }
} as const

export const issuedKeyResponse = {
  type: 'object',
  description: 'The only time the secret is shown',
  properties: { id: { type: 'string' }, token: { type: 'string' }, createdAt: epochMs },
  required: ['id', 'token', 'createdAt']
} as const

/** Limits as the views show them: what was set (src/limits), null for none. */
const limitsView = {
  type: ['object', 'null'],
  description: 'the rate limit and quota set on it, null for none: {rate?: {limit, windowSeconds}, quota?: {limit, period}}',
  properties: {
    rate: { type: 'object', properties: { limit: { type: 'integer' }, windowSeconds: { type: 'integer' } }, required: ['limit', 'windowSeconds'] },
    quota: { type: 'object', properties: { limit: { type: 'integer' }, period: { type: 'string', enum: ['day', 'month'] } }, required: ['limit', 'period'] }
  }
} as const

export const keyView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: nullableString(200),
    prefix: { type: 'string', description: 'non-secret display prefix' },
    scopes: { type: ['array', 'null'], items: { type: 'string' } },
    createdAt: epochMs,
    updatedAt: { ...epochMs, description: 'epoch milliseconds; last change of name, expiry or revocation' },
    expiresAt: nullableEpochMs,
    revokedAt: nullableEpochMs,
    lastUsedAt: { ...nullableEpochMs, description: 'last request the key authenticated (written in batches: may lag by seconds)' },
    requestCount: { type: 'integer', minimum: 0, description: 'requests the key authenticated (written in batches)' },
    usage: {
      type: 'array',
      description: 'with usageDays only: the days with requests, newest first (UTC, YYYY-MM-DD)',
      items: { type: 'object', properties: { day: { type: 'string' }, requests: { type: 'integer' }, denied: { type: 'integer', description: 'of which refused (403)' } } }
    },
    rateLimits: limitsView
  },
  required: ['id', 'prefix', 'createdAt', 'updatedAt']
} as const

/**
 * `rateLimits`: a rate limit and quota (src/limits), or null to clear them; checked in full by validateLimits.
 * Not `limits`, which @chatbotkit/sdk sends with a meaning of its own (ignored).
 */
export const limitsSchema = {
  type: ['object', 'null'],
  description: '{rate?: {limit, windowSeconds}, quota?: {limit, period: "day"|"month"}}, or null for none; within the parent\'s (accounts) or the account\'s (keys)',
  properties: {
    rate: { type: ['object', 'null'], properties: { limit: { type: 'integer' }, windowSeconds: { type: 'integer' } } },
    quota: { type: ['object', 'null'], properties: { limit: { type: 'integer' }, period: { type: 'string' } } }
  }
} as const

export const keyUpdateBody = {
  type: 'object',
  additionalProperties: false,
  properties: { ...ignoredKeyFields, name: nullableString(200), rateLimits: limitsSchema }
} as const

export const rollBody = {
  type: 'object',
  additionalProperties: false,
  properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: 30 * 24 * 3600, default: 0, description: 'how long the old key keeps working' } }
} as const

export const sessionView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    allowedRoutes: { type: ['array', 'null'], items: { type: 'string' }, description: 'null: every route' },
    createdAt: epochMs,
    expiresAt: epochMs
  },
  required: ['id', 'allowedRoutes', 'createdAt', 'expiresAt']
} as const

export const restrictionsSchema = {
  type: 'array',
  maxItems: RESTRICTIONS.length,
  uniqueItems: true,
  items: { type: 'string', enum: RESTRICTIONS },
  description: `replaces every flag; known flags: ${RESTRICTIONS.join(', ')}`
} as const

export const partnerUserView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: nullableString(200),
    email: { type: 'string' },
    createdAt: epochMs,
    updatedAt: epochMs,
    rateLimits: limitsView
  },
  required: ['id', 'email', 'createdAt', 'updatedAt']
} as const

export const adminUserView = {
  type: 'object',
  properties: {
    ...partnerUserView.properties,
    parentId: { type: ['string', 'null'] },
    role: { type: 'string', enum: ['user', 'admin'] },
    status: { type: 'string', enum: ['active', 'disabled', 'deleted'] },
    restrictions: { type: 'array', items: { type: 'string' } }
  },
  required: [...partnerUserView.required, 'parentId', 'role', 'status', 'restrictions']
} as const

export function listOf (item: object): object {
  return {
    type: 'object',
    properties: {
      items: { type: 'array', items: item },
      cursor: { type: 'string', description: 'pass back as `cursor` for the next page; absent on the last page' }
    },
    required: ['items']
  }
}

/** The error answers every authorized route may give, for the OpenAPI document. */
export const deniedResponses = {
  400: errorResponse,
  401: errorResponse,
  403: errorResponse,
  503: errorResponse
} as const
