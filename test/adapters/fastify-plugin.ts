import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import keygate, { keygatePlugin } from '../../src/adapters/fastify-plugin.js'
import type { AuthorizationResult, AuthorizeRequest } from '../../src/authorizer/index.js'
import { forwardAuthRoutes } from '../../src/server/routes/forward-auth.js'
import { stableHeaders } from '../helpers/server.js'

function decision (status: 200 | 400 | 401 | 403 | 503, type: 'none' | 'other_scheme' | 'secret_key' = 'secret_key'): AuthorizationResult {
  return {
    allow: status === 200,
    status,
    code: ({ 200: 'OK', 400: 'INVALID_REQUEST', 401: 'NOT_AUTHENTICATED', 403: 'NOT_AUTHORIZED', 503: 'SERVICE_UNAVAILABLE' } as const)[status],
    reasons: status === 200 ? [] : [{ code: 'some_rule', msg: 'why' }],
    subject: status === 200 ? 'usr_a' : null,
    actor: null,
    credential: { type, id: type === 'secret_key' ? 'key_a' : null, prefix: null },
    action: null,
    decisionId: 'd-1',
    policyRevision: 'r'
  }
}

/** An authorizer that answers with a fixed decision and remembers what it was asked. */
function fixed (result: AuthorizationResult): { authorize(request: AuthorizeRequest): Promise<AuthorizationResult>; asked: AuthorizeRequest[] } {
  const asked: AuthorizeRequest[] = []
  return { asked, async authorize (request) { asked.push(request); return result } }
}

async function service (authorizer: ReturnType<typeof fixed>): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(async (protectedScope) => {
    await protectedScope.register(keygate, { authorizer })
    protectedScope.post('/api/v1/bot/create', async (request) => ({ subject: request.keygate?.subject, body: request.body }))
  })
  app.get('/public', async (request) => ({ keygate: request.keygate ?? 'not decorated here' }))
  return app
}

t.test('options are checked at registration', async (t) => {
  for (const options of [{}, { authorizer: {} }, { authorizer: { authorize: 'yes' } }]) {
    const app = Fastify()
    app.register(keygatePlugin, options as never)
    await t.rejects(async () => { await app.ready() }, { name: 'TypeError', message: /options\.authorizer must be an Authorizer/ })
  }
})

t.test('an allowed request reaches the handler with its decision', async (t) => {
  const authorizer = fixed(decision(200))
  const app = await service(authorizer)
  const res = await app.inject({ method: 'POST', url: '/api/v1/bot/create?x=1', headers: { authorization: ['Bearer a', 'Bearer b'] as unknown as string, 'x-forwarded-proto': 'https' }, payload: { name: 'b' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { subject: 'usr_a', body: { name: 'b' } })
  t.match(authorizer.asked[0], { method: 'POST', path: '/api/v1/bot/create?x=1', headers: { authorization: ['Bearer a', 'Bearer b'] }, scheme: 'http' })
})

t.test('routes outside the scope are not guarded', async (t) => {
  const authorizer = fixed(decision(401, 'none'))
  const app = await service(authorizer)
  const res = await app.inject({ url: '/public' })
  t.equal(res.statusCode, 200)
  t.same(authorizer.asked, [])
})

t.test('refusals: exactly the standalone server\'s answers, before the body is read', async (t) => {
  for (const result of [decision(400), decision(401, 'none'), decision(401, 'other_scheme'), decision(401), decision(403), decision(503)]) {
    const authorizer = fixed(result)
    const app = await service(authorizer)
    const res = await app.inject({ method: 'POST', url: '/api/v1/bot/create', headers: { 'content-type': 'application/json' }, payload: '{not json' })
    const server = Fastify()
    await server.register(forwardAuthRoutes, { authorizer })
    const reference = await server.inject({ url: '/v1/forward-auth', headers: { 'x-forwarded-uri': '/api/v1/bot/create' } })
    t.equal(res.statusCode, result.status, `${result.status} ${result.credential.type}`)
    t.equal(res.body, reference.body)
    t.same(stableHeaders(res.headers), stableHeaders(reference.headers))
    t.notMatch(res.body, /some_rule|why/)
  }
})
