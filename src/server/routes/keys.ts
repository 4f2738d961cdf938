import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { AuditStore } from '../../audit/store.js'
import { keyAgeFilter, renameKey, revokeKey, rollKey, setKeyLimits } from '../../manage/index.js'
import type { Store } from '../../store/index.js'
import { grantableScopes, ownChild, ownKey, subjectOf } from '../caller.js'
import { HttpError } from '../../errors.js'
import {
  deniedResponses, errorResponse, idParams, idResponse, issuedKeyResponse, keyListQuery, keyUpdateBody, keyView, listOf, nestedIdParams, pageOf,
  rollBody, type KeyListQuery, type PageQuery
} from '../schemas.js'
import { sinceDays } from './audit.js'
import * as views from '../views.js'
import type { ManageContext } from './context.js'

/** Whose keys a family of routes manages, and how the request names them. */
interface KeyOwner {
  /** The path before `/token/…`. */
  prefix: string
  /** The path parameter that names the key. */
  keyParam: 'id' | 'tokenId'
  tags: string[]
  /** For the OpenAPI summaries: "the caller's", … */
  whose: string
  /** The account whose keys these are; a 404 when the caller may not manage it. */
  owner: (store: Store, request: FastifyRequest<{ Params: Record<string, string> }>) => Promise<string>
}

type KeyRequest<B = unknown> = FastifyRequest<{ Params: Record<string, string>; Body: B; Querystring: PageQuery }>

const responses = { ...deniedResponses, 404: errorResponse }

/**
 * Listing, renaming, revoking and rolling keys, the same for the caller's own
 * keys, a child's (partner) and any account's (operator). The policy has
 * authorized the request (management or admin class) before it gets here;
 * these handlers check that the key belongs to the account the path names.
 */
function keyRoutes (of: KeyOwner): FastifyPluginAsync<ManageContext> {
  return async (app, { authorizer, now }) => {
    const { store } = authorizer
    const audit = new AuditStore(store.database)
    const params = of.keyParam === 'id' ? idParams : nestedIdParams(of.keyParam)
    const listParams = of.keyParam === 'id' ? undefined : idParams
    const key = async (request: KeyRequest): Promise<{ id: string; scopes: string[] | null }> =>
      await ownKey(store, await of.owner(store, request), request.params[of.keyParam] as string)

    app.get<{ Params: Record<string, string>; Querystring: KeyListQuery }>(`${of.prefix}/token/list`, {
      schema: {
        summary: `List ${of.whose} keys that are not revoked (display prefix only, never the secret)`,
        tags: of.tags,
        ...(listParams === undefined ? {} : { params: listParams }),
        querystring: keyListQuery,
        response: { 200: listOf(keyView), ...responses }
      }
    }, async (request) => {
      const { unusedDays, olderThanDays, usageDays } = request.query
      const filter = keyAgeFilter({ unusedDays: numberOf(unusedDays), olderThanDays: numberOf(olderThanDays) }, now())
      const page = await store.listKeys(await of.owner(store, request), pageOf(request.query), filter)
      if (usageDays === undefined) return views.pageView(page, views.keyView)
      const usage = await audit.dailyUsage(page.items.map((k) => k.id), sinceDays(Number(usageDays), now().getTime()))
      return views.pageView(page, (k) => ({ ...views.keyView(k), usage: (usage.get(k.id) ?? []).map(({ day, requests, denied }) => ({ day, requests, denied })) }))
    })

    app.post<{ Params: Record<string, string>; Body: { name?: string | null; rateLimits?: unknown } }>(`${of.prefix}/token/:${of.keyParam}/update`, {
      schema: { summary: `Rename one of ${of.whose} keys, or set its limits`, tags: of.tags, params, body: keyUpdateBody, response: { 200: idResponse, ...responses } }
    }, async (request) => {
      const { id } = await key(request as KeyRequest)
      if (request.body.name !== undefined || request.body.rateLimits === undefined) await renameKey(store, id, { name: request.body.name })
      if (request.body.rateLimits !== undefined) await setKeyLimits(store, id, request.body.rateLimits)
      return { id }
    })

    app.post<{ Params: Record<string, string> }>(`${of.prefix}/token/:${of.keyParam}/delete`, {
      schema: {
        summary: `Revoke one of ${of.whose} keys, at once`,
        tags: of.tags,
        params,
        body: { type: 'object', additionalProperties: false },
        response: { 200: idResponse, ...responses }
      }
    }, async (request) => {
      const { id } = await key(request as KeyRequest)
      await revokeKey(store, id, now())
      authorizer.invalidate({ keyId: id })
      return { id }
    })

    app.post<{ Params: Record<string, string>; Body: { graceSeconds?: number } }>(`${of.prefix}/token/:${of.keyParam}/roll`, {
      schema: {
        summary: `Replace one of ${of.whose} keys: a new key now, the old one expiring after graceSeconds`,
        tags: of.tags,
        params,
        body: rollBody,
        response: { 200: issuedKeyResponse, ...responses }
      }
    }, async (request) => {
      const old = await key(request as KeyRequest)
      // The new key gets the old one's scopes, so a narrower key must not roll a wider one
      // (null, full access, is asked for as '*': asking for null would mean "the caller's").
      await grantableScopes(store, request, old.scopes ?? ['*'])
      const replacement = await rollKey(store, old.id, request.body.graceSeconds, now())
      authorizer.invalidate({ keyId: old.id })
      return views.issuedKeyView(replacement)
    })
  }
}

/** The caller's own keys: `/api/v1/token/{id}/…`. */
export const ownKeyRoutes = keyRoutes({
  prefix: '/api/v1',
  keyParam: 'id',
  tags: ['token'],
  whose: 'the caller\'s',
  owner: async (_store, request) => subjectOf(request)
})

/** A child's keys, as @chatbotkit/sdk's `partner.user.token` calls them: `/api/v1/partner/user/{id}/token/{tokenId}/…`. */
export const childKeyRoutes = keyRoutes({
  prefix: '/api/v1/partner/user/:id',
  keyParam: 'tokenId',
  tags: ['partner'],
  whose: 'a child account\'s',
  owner: async (store, request) => (await ownChild(store, subjectOf(request), request.params.id as string)).id
})

/** Any account's keys, for operators: `/admin/v1/user/{id}/token/{tokenId}/…`. */
export const anyKeyRoutes = keyRoutes({
  prefix: '/admin/v1/user/:id',
  keyParam: 'tokenId',
  tags: ['admin'],
  whose: 'an account\'s',
  owner: async (store, request) => {
    const user = await store.findUserById(request.params.id as string)
    if (user === null || user.status === 'deleted') throw new HttpError('NOT_FOUND')
    return user.id
  }
})

function numberOf (text: string | undefined): number | null {
  return text === undefined ? null : Number(text)
}
