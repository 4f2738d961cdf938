import type { FastifyPluginAsync } from 'fastify'
import { issueKey } from '../../manage/index.js'
import { actorOf, grantableScopes, subjectOf } from '../caller.js'
import { deniedResponses, issuedKeyResponse, keyRequestBody } from '../schemas.js'
import * as views from '../views.js'
import type { ManageContext } from './context.js'

const tags = ['token']

interface KeyBody { name?: string | null; expiresInSeconds?: number; scopes?: string[] | null }

/** A new secret key for the caller; listing, renaming, revoking and rolling are in ./keys.ts. */
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
}
