import type { FastifyPluginAsync } from 'fastify'
import { createAccount, issueKey, setAccountLimits, updateAccount } from '../../manage/index.js'
import { grantableScopes } from '../caller.js'
import { HttpError } from '../../errors.js'
import {
  adminUserView, deniedResponses, emailProperty, errorResponse, idParams, idResponse, issuedKeyResponse, keyRequestBody, limitsSchema, listOf, pageOf, pageQuery,
  restrictionsSchema, type PageQuery
} from '../schemas.js'
import * as views from '../views.js'
import type { ManageContext } from './context.js'

const tags = ['admin']
const responses = { ...deniedResponses, 404: errorResponse }

const userListQuery = {
  ...pageQuery,
  properties: { ...pageQuery.properties, parentId: { type: 'string', minLength: 1, maxLength: 64, description: 'the children of this account; without it, the top-level accounts' } }
} as const

interface KeyBody { name?: string | null; expiresInSeconds?: number; scopes?: string[] | null }

/** The operator API: any account, for admin accounts only (the policy's `admin` class); its keys' other routes are in ./keys.ts. */
export const adminRoutes: FastifyPluginAsync<ManageContext> = async (app, { authorizer, now }) => {
  const { store } = authorizer

  app.post<{ Body: { email: string; name?: string | null; parentId?: string | null } }>('/admin/v1/user/create', {
    schema: {
      summary: 'Create an account, top-level or under parentId',
      tags,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['email'],
        properties: {
          email: emailProperty,
          name: { type: ['string', 'null'], maxLength: 200 },
          parentId: { type: ['string', 'null'], minLength: 1, maxLength: 64 }
        }
      },
      response: { 200: idResponse, 409: errorResponse, ...responses }
    }
  }, async (request) => {
    return { id: (await createAccount(store, request.body)).id }
  })

  app.get<{ Querystring: PageQuery & { parentId?: string } }>('/admin/v1/user/list', {
    schema: {
      summary: 'List the top-level accounts, or the children of parentId, oldest first (deleted ones left out)',
      tags,
      querystring: userListQuery,
      response: { 200: listOf(adminUserView), ...responses }
    }
  }, async (request) => {
    const parentId = request.query.parentId ?? null
    if (parentId !== null && await store.findUserById(parentId) === null) throw new HttpError('NOT_FOUND')
    const page = await store.listUsers({ parentId, ...pageOf(request.query) })
    return views.pageView(page, views.adminUserView)
  })

  app.get<{ Params: { id: string } }>('/admin/v1/user/:id/fetch', {
    schema: { summary: 'Fetch any account, deleted ones included', tags, params: idParams, response: { 200: adminUserView, ...responses } }
  }, async (request) => {
    const user = await store.findUserById(request.params.id)
    if (user === null) throw new HttpError('NOT_FOUND')
    return views.adminUserView(user)
  })

  app.post<{ Params: { id: string }; Body: { restrictions?: string[]; disabled?: boolean; rateLimits?: unknown } }>('/admin/v1/user/:id/update', {
    schema: {
      summary: 'Replace an account\'s restrictions or disable it; takes effect at once',
      tags,
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          restrictions: restrictionsSchema,
          disabled: { type: 'boolean' },
          rateLimits: limitsSchema
        }
      },
      response: { 200: adminUserView, ...responses }
    }
  }, async (request) => {
    const { rateLimits, ...patch } = request.body
    let user = await updateAccount(store, request.params.id, patch)
    if (rateLimits !== undefined) user = await setAccountLimits(store, user.id, rateLimits)
    authorizer.invalidate({ userId: user.id })
    return views.adminUserView(user)
  })

  app.post<{ Params: { id: string }; Body: KeyBody }>('/admin/v1/user/:id/token/create', {
    schema: {
      summary: 'Create a secret key for any account',
      tags,
      params: idParams,
      body: keyRequestBody,
      response: { 200: issuedKeyResponse, ...responses }
    }
  }, async (request) => {
    const scopes = await grantableScopes(store, request, request.body.scopes)
    return views.issuedKeyView(await issueKey(store, { ...request.body, userId: request.params.id, scopes }, now()))
  })
}
