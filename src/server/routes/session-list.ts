import type { FastifyPluginAsync } from 'fastify'
import type { Sessions } from '../../sessions/index.js'
import type { Store } from '../../store/index.js'
import { ownChild, subjectOf } from '../caller.js'
import {
  deniedResponses, errorResponse, idParams, idResponse, listOf, nestedIdParams, pageOf, pageQuery, sessionView, type PageQuery
} from '../schemas.js'
import * as views from '../views.js'

export interface SessionListOptions {
  store: Store
  sessions: Pick<Sessions, 'list' | 'end'>
}

const responses = { ...deniedResponses, 404: errorResponse }

/**
 * Sessions that still work, of the caller (or the child it runs as) and of a
 * child, and ending a child's; never their tokens. Authorized by the policy as
 * management (`session` and `partner` resources), like minting.
 */
export const sessionListRoutes: FastifyPluginAsync<SessionListOptions> = async (app, { store, sessions }) => {
  app.get<{ Querystring: PageQuery }>('/api/v1/session/list', {
    schema: {
      summary: 'List the caller\'s sessions that are neither ended nor expired',
      tags: ['session'],
      querystring: pageQuery,
      response: { 200: listOf(sessionView), ...deniedResponses }
    }
  }, async (request) => {
    return views.pageView(await sessions.list(subjectOf(request), pageOf(request.query)), views.sessionView)
  })

  app.get<{ Params: { id: string }; Querystring: PageQuery }>('/api/v1/partner/user/:id/session/list', {
    schema: {
      summary: 'List a child\'s sessions that are neither ended nor expired',
      tags: ['partner', 'session'],
      params: idParams,
      querystring: pageQuery,
      response: { 200: listOf(sessionView), ...responses }
    }
  }, async (request) => {
    const child = await ownChild(store, subjectOf(request), request.params.id)
    return views.pageView(await sessions.list(child.id, pageOf(request.query)), views.sessionView)
  })

  app.post<{ Params: { id: string; sessionId: string } }>('/api/v1/partner/user/:id/session/:sessionId/delete', {
    schema: {
      summary: 'End one of a child\'s sessions, at once',
      tags: ['partner', 'session'],
      params: nestedIdParams('sessionId'),
      body: { type: 'object', additionalProperties: false },
      response: { 200: idResponse, ...responses }
    }
  }, async (request) => {
    const child = await ownChild(store, subjectOf(request), request.params.id)
    await sessions.end(request.params.sessionId, child.id)
    return { id: request.params.sessionId }
  })
}
