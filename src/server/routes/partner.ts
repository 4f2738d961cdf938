import type { FastifyPluginAsync } from 'fastify'
import { createAccount, deleteAccount, issueKey, setAccountLimits, updateAccount } from '../../manage/index.js'
import { grantableScopes, ownChild, subjectOf } from '../caller.js'
import {
  deniedResponses, emailProperty as email, errorResponse, idParams, idResponse, ignoredUserFields, issuedKeyResponse, keyRequestBody, listOf, pageOf, pageQuery,
  limitsSchema, partnerUserView, type PageQuery
} from '../schemas.js'
import * as views from '../views.js'
import type { ManageContext } from './context.js'

const name = { type: ['string', 'null'], maxLength: 200 }
const tags = ['partner']
const responses = { ...deniedResponses, 404: errorResponse }
/** The SDK's `partner.user.list` filters: `email`, and `meta.<key>`, which matches nobody (Keygate keeps no meta). */
const userListQuery = {
  ...pageQuery,
  properties: { ...pageQuery.properties, email },
  patternProperties: { '^meta\\.[A-Za-z0-9_-]{1,64}$': { type: 'string', maxLength: 1000 } }
}

interface KeyBody { name?: string | null; expiresInSeconds?: number; scopes?: string[] | null }

/** Sub-accounts of the caller, as @chatbotkit/sdk's `partner.user` client calls them. */
export const partnerRoutes: FastifyPluginAsync<ManageContext> = async (app, { authorizer, now }) => {
  const { store } = authorizer

  app.post<{ Body: { name?: string | null; email: string } }>('/api/v1/partner/user/create', {
    schema: {
      summary: 'Create a child account of the caller',
      tags,
      body: { type: 'object', additionalProperties: false, required: ['email'], properties: { ...ignoredUserFields, name, email } },
      response: { 200: idResponse, 409: errorResponse, ...deniedResponses }
    }
  }, async (request) => {
    const user = await createAccount(store, { ...request.body, parentId: subjectOf(request) })
    return { id: user.id }
  })

  app.get<{ Querystring: PageQuery & { email?: string } }>('/api/v1/partner/user/list', {
    schema: { summary: 'List the caller\'s children, oldest first', tags, querystring: userListQuery, response: { 200: listOf(partnerUserView), ...deniedResponses } }
  }, async (request) => {
    if (Object.keys(request.query).some((name) => name.startsWith('meta.'))) return { items: [] }
    const page = await store.listUsers({ parentId: subjectOf(request), email: request.query.email, ...pageOf(request.query) })
    return views.pageView(page, views.partnerUserView)
  })

  app.get<{ Params: { id: string } }>('/api/v1/partner/user/:id/fetch', {
    schema: { summary: 'Fetch a child account', tags, params: idParams, response: { 200: partnerUserView, ...responses } }
  }, async (request) => {
    return views.partnerUserView(await ownChild(store, subjectOf(request), request.params.id))
  })

  app.post<{ Params: { id: string }; Body: { name?: string | null; email?: string; rateLimits?: unknown } }>('/api/v1/partner/user/:id/update', {
    schema: {
      summary: 'Change a child\'s name or e-mail, or cap it with limits (within the caller\'s own)',
      tags,
      params: idParams,
      body: { type: 'object', additionalProperties: false, properties: { ...ignoredUserFields, name, email, rateLimits: limitsSchema } },
      response: { 200: idResponse, 409: errorResponse, ...responses }
    }
  }, async (request) => {
    const child = await ownChild(store, subjectOf(request), request.params.id)
    await updateAccount(store, child.id, { name: request.body.name, email: request.body.email })
    if (request.body.rateLimits !== undefined) await setAccountLimits(store, child.id, request.body.rateLimits)
    authorizer.invalidate({ userId: child.id })
    return { id: child.id }
  })

  app.post<{ Params: { id: string } }>('/api/v1/partner/user/:id/delete', {
    schema: {
      summary: 'Delete a child account; its keys and sessions stop working at once',
      tags,
      params: idParams,
      body: { type: 'object', additionalProperties: false },
      response: { 200: idResponse, ...responses }
    }
  }, async (request) => {
    const child = await ownChild(store, subjectOf(request), request.params.id)
    await deleteAccount(store, child.id)
    authorizer.invalidate({ userId: child.id })
    return { id: child.id }
  })

  app.post<{ Params: { id: string }; Body: KeyBody }>('/api/v1/partner/user/:id/token/create', {
    schema: {
      summary: 'Create a secret key for a child account',
      tags,
      params: idParams,
      body: keyRequestBody,
      response: { 200: issuedKeyResponse, ...responses }
    }
  }, async (request) => {
    const parentId = subjectOf(request)
    const child = await ownChild(store, parentId, request.params.id)
    const scopes = await grantableScopes(store, request, request.body.scopes)
    // The parent stays on the key as its actor: the key works only while the parent may act as the child.
    return views.issuedKeyView(await issueKey(store, { ...request.body, userId: child.id, actorId: parentId, scopes }, now()))
  })
}
