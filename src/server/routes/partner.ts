import type { FastifyPluginAsync } from 'fastify'
import { createAccount, issueKey } from '../../manage/index.js'
import type { Store, UserRecord } from '../../store/index.js'
import { grantableScopes, subjectOf } from '../caller.js'
import { HttpError } from '../errors.js'
import {
  deniedResponses, emailProperty as email, errorResponse, idParams, idResponse, issuedKeyResponse, keyRequestBody, listOf, pageOf, pageQuery, partnerUserView
} from '../schemas.js'
import * as views from '../views.js'
import type { ManageContext } from './context.js'

const name = { type: ['string', 'null'], maxLength: 200 }
const tags = ['partner']
const responses = { ...deniedResponses, 404: errorResponse }

interface KeyBody { name?: string | null; expiresInSeconds?: number; scopes?: string[] | null }

/** Sub-accounts of the caller, as @chatbotkit/sdk's `partner.user` client calls them. */
export const partnerRoutes: FastifyPluginAsync<ManageContext> = async (app, { authorizer, now }) => {
  const { store } = authorizer

  app.post<{ Body: { name?: string | null; email: string } }>('/api/v1/partner/user/create', {
    schema: {
      summary: 'Create a child account of the caller',
      tags,
      body: { type: 'object', additionalProperties: false, required: ['email'], properties: { name, email } },
      response: { 200: idResponse, 409: errorResponse, ...deniedResponses }
    }
  }, async (request) => {
    const user = await createAccount(store, { ...request.body, parentId: subjectOf(request) })
    return { id: user.id }
  })

  app.get<{ Querystring: { cursor?: string; take?: string } }>('/api/v1/partner/user/list', {
    schema: { summary: 'List the caller\'s children, oldest first', tags, querystring: pageQuery, response: { 200: listOf(partnerUserView), ...deniedResponses } }
  }, async (request) => {
    const page = await store.listUsers({ parentId: subjectOf(request), ...pageOf(request.query) })
    return views.pageView(page, views.partnerUserView)
  })

  app.get<{ Params: { id: string } }>('/api/v1/partner/user/:id/fetch', {
    schema: { summary: 'Fetch a child account', tags, params: idParams, response: { 200: partnerUserView, ...responses } }
  }, async (request) => {
    return views.partnerUserView(await ownChild(store, subjectOf(request), request.params.id))
  })

  app.post<{ Params: { id: string }; Body: { name?: string | null; email?: string } }>('/api/v1/partner/user/:id/update', {
    schema: {
      summary: 'Change a child\'s name or e-mail',
      tags,
      params: idParams,
      body: { type: 'object', additionalProperties: false, properties: { name, email } },
      response: { 200: idResponse, 409: errorResponse, ...responses }
    }
  }, async (request) => {
    const child = await ownChild(store, subjectOf(request), request.params.id)
    const updated = await store.updateUser(child.id, request.body)
    if (updated === null) throw new HttpError('NOT_FOUND')
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
    if (!await store.deleteUser(child.id)) throw new HttpError('NOT_FOUND')
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
    const child = await ownChild(store, subjectOf(request), request.params.id)
    const scopes = await grantableScopes(store, request, request.body.scopes)
    return views.issuedKeyView(await issueKey(store, { ...request.body, userId: child.id, scopes }, now()))
  })
}

/** A live direct child of parentId; anything else is the same 404 as an id that never existed. */
async function ownChild (store: Store, parentId: string, id: string): Promise<UserRecord> {
  const user = await store.findUserById(id)
  if (user === null || user.parentId !== parentId || user.status === 'deleted') throw new HttpError('NOT_FOUND')
  return user
}
