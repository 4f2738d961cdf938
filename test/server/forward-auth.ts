import t from 'tap'
import Fastify from 'fastify'
import { forwardAuthRoutes } from '../../src/server/routes/forward-auth.js'
import type { AuthorizationResult, AuthorizeRequest } from '../../src/authorizer/index.js'
import { DEFAULT_BUNDLE_PATH, PolicyEngine } from '../../src/policy/engine.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, stableHeaders, testServer } from '../helpers/server.js'

const NOT_AUTHENTICATED = '{"message":"Not authenticated","code":"NOT_AUTHENTICATED"}'
const NOT_AUTHORIZED = '{"message":"Not authorized","code":"NOT_AUTHORIZED"}'
const NOT_FOUND = '{"message":"Not found","code":"NOT_FOUND"}'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('forward-auth', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  // Over real HTTP: forward-auth checks take the production path (the server's own listener), not Fastify's routes.
  const { http } = server
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })

  await t.test('nginx auth_request: X-Original-Method and X-Original-URI', async (t) => {
    const res = await http({
      method: 'GET',
      url: '/v1/forward-auth',
      headers: { ...parent.headers, 'x-original-method': 'POST', 'x-original-uri': '/api/v1/bot/create' }
    })
    t.equal(res.statusCode, 200)
    t.equal(res.body, '')
    t.equal(res.headers['x-keygate-user-id'], parent.id)
    t.equal(res.headers['x-keygate-key-id'], parent.keyId)
    t.equal(res.headers['x-keygate-credential'], 'secret_key')
    t.match(res.headers['x-keygate-decision-id'], UUID)
    t.equal(res.headers['x-keygate-actor-id'], '', 'sent empty unless impersonating, so a proxy overwrites a client\'s own')
    t.equal(res.headers['cache-control'], 'no-store')
  })

  await t.test('Traefik and Caddy: X-Forwarded-Method and X-Forwarded-Uri, any method on the check request', async (t) => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const) {
      const res = await http({
        method,
        url: '/v1/forward-auth',
        headers: { ...parent.headers, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/v1/bot/list', 'x-forwarded-proto': 'https' }
      })
      t.equal(res.statusCode, 200, method)
      t.equal(res.headers['x-keygate-user-id'], parent.id, method)
    }
  })

  await t.test('Envoy ext_authz: the original path after the prefix, with the original method and body', async (t) => {
    const res = await http({
      method: 'POST',
      url: '/v1/forward-auth/api/v1/bot/create?draft=true',
      headers: { ...parent.headers, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=x'
    })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-keygate-user-id'], parent.id)
  })

  await t.test('the query string takes no part in the decision', async (t) => {
    // Outside the query, an encoded dot or slash makes the path invalid for the policy.
    const allowed = await http({ url: '/v1/forward-auth', headers: { ...parent.headers, 'x-forwarded-uri': '/api/v1/bot/list?next=%2e%2e%2fadmin#x' } })
    t.equal(allowed.statusCode, 200)
    const refused = await http({ url: '/v1/forward-auth', headers: { ...parent.headers, 'x-forwarded-uri': '/api/v1/bot/%2e%2e/list' } })
    t.equal(refused.statusCode, 403)
    const envoy = await http({ url: '/v1/forward-auth/api/v1/bot/list?next=%2e%2e%2f', headers: parent.headers })
    t.equal(envoy.statusCode, 200)
  })

  await t.test('impersonation: the child as subject, the parent as actor', async (t) => {
    for (const runAs of [{ 'x-runas-user-id': child.id }, { 'x-runas-child-user-email': ` ${child.email.toUpperCase()} ` }]) {
      const res = await http({ url: '/v1/forward-auth', headers: { ...parent.headers, ...runAs, 'x-original-uri': '/api/v1/dataset/list' } })
      t.equal(res.statusCode, 200, String(Object.keys(runAs)[0]))
      t.equal(res.headers['x-keygate-user-id'], child.id)
      t.equal(res.headers['x-keygate-actor-id'], parent.id)
      t.equal(res.headers['x-keygate-key-id'], parent.keyId)
    }
  })

  await t.test('a session token: its user, credential "session", the session id', async (t) => {
    const session = await server.sessions.mint({ userId: child.id })
    const res = await http({ url: '/v1/forward-auth', headers: { ...bearer(session.token), 'x-original-uri': '/api/v1/bot/list' } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-keygate-user-id'], child.id)
    t.equal(res.headers['x-keygate-credential'], 'session')
    t.equal(res.headers['x-keygate-key-id'], session.id)
    const mintKey = await http({ method: 'POST', url: '/api/v1/token/create', headers: bearer(session.token), payload: {} })
    t.equal(mintKey.statusCode, 403, 'a session token can never mint keys')
    const runAs = await http({ url: '/v1/forward-auth', headers: { ...bearer(session.token), 'x-runas-user-id': child.id, 'x-original-uri': '/api/v1/bot/list' } })
    t.equal(runAs.statusCode, 403, 'nor impersonate')
    t.equal(runAs.body, NOT_AUTHORIZED)
    const created = await http({ method: 'POST', url: '/api/v1/session/create', headers: parent.headers, payload: { durationInSeconds: 60 } })
    t.equal(created.statusCode, 200, 'the session routes are served')
    const viaApi = await http({ url: '/v1/forward-auth', headers: { ...bearer(created.json().token), 'x-original-uri': '/api/v1/bot/list' } })
    t.equal(viaApi.headers['x-keygate-user-id'], parent.id)
    t.equal((await http({ url: '/.well-known/jwks.json' })).statusCode, 200, 'the JWKS is public')
  })

  await t.test('401 without a credential: a challenge without an error', async (t) => {
    const res = await http({ url: '/v1/forward-auth', headers: { 'x-original-uri': '/api/v1/bot/list' } })
    t.equal(res.statusCode, 401)
    t.equal(res.body, NOT_AUTHENTICATED)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="keygate"')
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(res.headers['cache-control'], 'no-store')
    t.notOk('x-keygate-user-id' in res.headers)
  })

  await t.test('401 with a bad credential: error="invalid_token", the same body', async (t) => {
    const revoked = await server.account()
    await store.revokeKey(revoked.keyId)
    server.authorizer.invalidate({ keyId: revoked.keyId })
    const cases: Record<string, Record<string, string | string[]>> = {
      unknown: bearer(`sk-${'A'.repeat(49)}`),
      revoked: revoked.headers,
      'two Authorization headers': { authorization: [parent.headers.authorization, parent.headers.authorization] },
      'bad credential with X-RunAs': { ...bearer('garbage'), 'x-runas-user-id': child.id }
    }
    const answers = []
    for (const [name, headers] of Object.entries(cases)) {
      const res = await http({ url: '/v1/forward-auth', headers: { ...headers, 'x-original-uri': '/api/v1/bot/list' } })
      t.equal(res.statusCode, 401, name)
      t.equal(res.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_token"', name)
      answers.push({ body: res.body, headers: stableHeaders(res.headers) })
    }
    t.equal(answers[0]?.body, NOT_AUTHENTICATED)
    for (const answer of answers) t.same(answer, answers[0])
  })

  await t.test('every impersonation refusal is the same 403, byte for byte', async (t) => {
    const other = await server.account()
    const othersChild = await server.account({ parentId: other.id })
    const grandchild = await server.account({ parentId: child.id })
    const deleted = await server.account({ parentId: parent.id })
    await store.deleteUser(deleted.id)
    const disabled = await server.account({ parentId: parent.id })
    await store.updateUser(disabled.id, { disabled: true })
    const restricted = await server.account()
    const restrictedChild = await server.account({ parentId: restricted.id })
    await store.addRestriction(restricted.id, 'impersonation')
    const second = await server.account({ parentId: parent.id })

    const cases: Record<string, Record<string, string | string[]>> = {
      'unknown user': { ...parent.headers, 'x-runas-user-id': 'usr_00000000000000000000' },
      'unknown e-mail': { ...parent.headers, 'x-runas-child-user-email': 'nobody@example.com' },
      "another parent's child": { ...parent.headers, 'x-runas-user-id': othersChild.id },
      "another parent's child by e-mail": { ...parent.headers, 'x-runas-child-user-email': othersChild.email },
      grandchild: { ...parent.headers, 'x-runas-user-id': grandchild.id },
      yourself: { ...parent.headers, 'x-runas-user-id': parent.id },
      'a deleted child': { ...parent.headers, 'x-runas-user-id': deleted.id },
      'a disabled child': { ...parent.headers, 'x-runas-user-id': disabled.id },
      'a restricted parent': { ...restricted.headers, 'x-runas-user-id': restrictedChild.id },
      'two headers naming different users': { ...parent.headers, 'x-runas-user-id': child.id, 'x-runas-child-user-email': second.email },
      'a read-only account writing (not impersonation)': await readOnly(server)
    }
    const answers = []
    for (const [name, headers] of Object.entries(cases)) {
      const res = await http({ url: '/v1/forward-auth', headers: { ...headers, 'x-original-uri': '/api/v1/dataset/create', 'x-original-method': 'POST' } })
      t.equal(res.statusCode, 403, name)
      answers.push({ body: res.body, headers: stableHeaders(res.headers) })
    }
    t.equal(answers[0]?.body, NOT_AUTHORIZED)
    t.equal((answers[0]?.headers as Record<string, string>)['www-authenticate'], 'Bearer realm="keygate", error="insufficient_scope"')
    for (const answer of answers) t.same(answer, answers[0])
  })

  await t.test('400 when the proxy names no request, or names two', async (t) => {
    const cases: Record<string, Record<string, string | string[]>> = {
      'no URI at all': {},
      'X-Forwarded-Uri and X-Original-URI disagree': { 'x-forwarded-uri': '/api/v1/bot/list', 'x-original-uri': '/api/v1/bot/delete' },
      'a URI header disagrees with the Envoy path': { 'x-forwarded-uri': '/api/v1/bot/list' },
      'X-Forwarded-Uri twice': { 'x-forwarded-uri': ['/api/v1/bot/list', '/api/v1/bot/delete'] },
      'the methods disagree': { 'x-original-uri': '/api/v1/bot/list', 'x-forwarded-method': 'GET', 'x-original-method': 'POST' }
    }
    for (const [name, headers] of Object.entries(cases)) {
      const url = name.includes('Envoy') ? '/v1/forward-auth/api/v1/bot/delete' : '/v1/forward-auth'
      const res = await http({ url, headers: { ...parent.headers, ...headers } })
      t.equal(res.statusCode, 400, name)
      t.equal(res.json().code, 'INVALID_REQUEST', name)
    }
    const agreeing = await http({
      url: '/v1/forward-auth',
      headers: { ...parent.headers, 'x-forwarded-uri': '/api/v1/bot/list?a=1', 'x-original-uri': '/api/v1/bot/list?b=2' }
    })
    t.equal(agreeing.statusCode, 200, 'sources that agree on the path are fine')
  })

  await t.test('the server answers forward-auth URLs itself, under its own trustProxy, and no other URL', async (t) => {
    for (const url of ['/v1/forward-authz', '/v1/forward-auth-x/api/v1/bot/list']) {
      const res = await http({ url, headers: { ...parent.headers, 'x-original-uri': '/api/v1/bot/list' } })
      t.same({ status: res.statusCode, body: res.body }, { status: 404, body: NOT_FOUND }, url)
    }
    // The scheme is visible only to a policy that requires HTTPS: X-Forwarded-Proto counts from a trusted peer alone.
    const strict = await PolicyEngine.fromBundle(DEFAULT_BUNDLE_PATH, { config: { require_https: true } })
    const forwarded = { ...parent.headers, 'x-forwarded-proto': 'https', 'x-original-uri': '/api/v1/bot/list' }
    for (const [trustProxy, status] of [[false, 403], [['127.0.0.1'], 200]] as const) {
      const behind = await testServer(t, store, { trustProxy: trustProxy === false ? false : [...trustProxy], policy: strict })
      t.equal((await behind.http({ url: '/v1/forward-auth', headers: forwarded })).statusCode, status, `trustProxy ${JSON.stringify(trustProxy)}`)
    }
  })
}))

t.test('the scheme comes from X-Forwarded-Proto only when the peer is trusted', async (t) => {
  const seen: AuthorizeRequest[] = []
  const authorizer = {
    async authorize (request: AuthorizeRequest): Promise<AuthorizationResult> {
      seen.push(request)
      return {
        allow: true,
        status: 200,
        code: 'OK',
        reasons: [],
        subject: 'usr_x',
        actor: null,
        credential: { type: 'secret_key', id: 'key_x', prefix: 'sk-x' },
        action: null,
        decisionId: 'd',
        policyRevision: 'r'
      }
    }
  }
  for (const trustProxy of [false, true]) {
    const app = Fastify({ trustProxy })
    await app.register(forwardAuthRoutes, { authorizer, trustProxy })
    await app.inject({ url: '/v1/forward-auth', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-uri': '/api/v1/bot/list' } })
    await app.inject({ url: '/v1/forward-auth', headers: { 'x-forwarded-uri': '/api/v1/bot/list' } })
    await app.close()
  }
  t.same(seen.map((r) => r.scheme), ['http', 'http', 'https', 'http'])
  t.same(seen[0], { method: 'GET', path: '/api/v1/bot/list', headers: seen[0]?.headers, scheme: 'http', client: { address: '127.0.0.1' } })
})

async function readOnly (server: Awaited<ReturnType<typeof testServer>>): Promise<Record<string, string>> {
  const account = await server.account()
  await server.store.addRestriction(account.id, 'read-only')
  return account.headers
}
