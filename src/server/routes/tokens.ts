import type { FastifyPluginAsync } from 'fastify'
import { issueKey, rollKey } from '../../manage/index.js'
import type { KeyRecord, Store } from '../../store/index.js'
import { actorOf, grantableScopes, subjectOf } from '../caller.js'
import { HttpError } from '../errors.js'
import {
  deniedResponses, errorResponse, idParams, idResponse, issuedKeyResponse, keyRequestBody, keyView, listOf, pageOf, pageQuery
} from '../schemas.js'
import * as views from '../views.js'
import type { ManageContext } from './context.js'

const tags = ['token']
const responses = { ...deniedResponses, 404: errorResponse }

interface KeyBody { name?: string | null; expiresInSeconds?: number; scopes?: string[] | null }

/** The caller's own secret keys. */
export const tokenRoutes: FastifyPluginAsync<ManageContext> = async (app, { authorizer, now }) => {
  const { store } = authorizer

  app.post<{ Body: KeyBody }>('/api/v1/token/create', {
    schema: {
      summary: 'Create a secret key for the caller; the response is the only time the secret is shown',
      tags,
      body: keyRequestBody,
      response: { 200: issuedKeyResponse, ...deniedResponses }
    }
  }, async (request) => {
    const scopes = await grantableScopes(store, request, request.body.scopes)
    return views.issuedKeyView(await issueKey(store, { ...request.body, userId: subjectOf(request), actorId: actorOf(request), scopes }, now()))
  })

  app.get<{ Querystring: { cursor?: string; take?: string } }>('/api/v1/token/list', {
    schema: {
      summary: 'List the caller\'s keys that are not revoked (display prefix only, never the secret)',
      tags,
      querystring: pageQuery,
      response: { 200: listOf(keyView), ...deniedResponses }
    }
  }, async (request) => {
    return views.pageView(await store.listKeys(subjectOf(request), pageOf(request.query)), views.keyView)
  })

  app.post<{ Params: { id: string } }>('/api/v1/token/:id/delete', {
    schema: {
      summary: 'Revoke one of the caller\'s keys, at once',
      tags,
      params: idParams,
      body: { type: 'object', additionalProperties: false },
      response: { 200: idResponse, ...responses }
    }
  }, async (request) => {
    const key = await ownKey(store, subjectOf(request), request.params.id)
    if (!await store.revokeKey(key.id, now())) throw new HttpError('NOT_FOUND')
    authorizer.invalidate({ keyId: key.id })
    return { id: key.id }
  })

  app.post<{ Params: { id: string }; Body: { graceSeconds?: number } }>('/api/v1/token/:id/roll', {
    schema: {
      summary: 'Replace one of the caller\'s keys: a new key now, the old one expiring after graceSeconds',
      tags,
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: 30 * 24 * 3600, default: 0 } }
      },
      response: { 200: issuedKeyResponse, ...responses }
    }
  }, async (request) => {
    const key = await ownKey(store, subjectOf(request), request.params.id)
    // The new key gets the old one's scopes, so a narrower key must not roll a wider one
    // (null, full access, is asked for as '*': asking for null would mean "the caller's").
    await grantableScopes(store, request, key.scopes ?? ['*'])
    const replacement = await rollKey(store, key.id, request.body.graceSeconds, now())
    authorizer.invalidate({ keyId: key.id })
    return views.issuedKeyView(replacement)
  })
}

/** A live key of the caller; anything else is the same 404 as an id that never existed. */
async function ownKey (store: Store, userId: string, id: string): Promise<KeyRecord> {
  const key = await store.findKeyById(id)
  if (key === null || key.userId !== userId || key.revokedAt !== null) throw new HttpError('NOT_FOUND')
  return key
}
