/**
 * Envoy's gRPC ext_authz on a real gRPC listener, asked by a client built from
 * Envoy's own protos: the same decisions and answers as HTTP forward-auth.
 */
import { status as grpcStatus } from '@grpc/grpc-js'
import t, { type Test } from 'tap'
import type { AuthorizeRequest } from '../../src/authorizer/index.js'
import { listenGrpc, type GrpcServerOptions } from '../../src/server/grpc.js'
import { forEachDatabase } from '../helpers/databases.js'
import { checkRequest, deniedAnswer, extAuthzClient, setHeaders, type CheckResponse, type ExtAuthzClient, type HttpRequestOptions } from '../helpers/ext-authz.js'
import { bearer, testServer, type TestServer } from '../helpers/server.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const IDENTITY = ['x-keygate-user-id', 'x-keygate-actor-id', 'x-keygate-key-id', 'x-keygate-credential', 'x-keygate-decision-id']
const OVERWRITE = 2 // HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD

interface Setup {
  server: TestServer
  client: ExtAuthzClient
  /** What the authorizer was asked, in order. */
  asked: AuthorizeRequest[]
  check(options?: HttpRequestOptions): Promise<CheckResponse>
  /** forward-auth's answer to the same request (nginx style), for comparison. */
  forwardAuth(options?: HttpRequestOptions): Promise<{ status: number; headers: Record<string, string>; body: string }>
}

async function setup (t: Test, server: TestServer, options: Partial<GrpcServerOptions> = {}): Promise<Setup> {
  const asked: AuthorizeRequest[] = []
  const authorizer = {
    store: server.authorizer.store,
    authorize: async (request: AuthorizeRequest) => { asked.push(request); return await server.authorizer.authorize(request) }
  }
  const listener = await listenGrpc({ authorizer, host: '127.0.0.1', port: 0, ...options })
  t.teardown(listener.close)
  const client = extAuthzClient(t, listener.address)
  return {
    server,
    client,
    asked,
    check: async (request = {}) => await client.check(checkRequest(request)),
    async forwardAuth ({ method = 'GET', path = '/api/v1/bot/list', headers = {} } = {}) {
      const res = await server.app.inject({ url: '/v1/forward-auth', headers: { ...headers, 'x-original-method': method, 'x-original-uri': path } })
      const { 'content-length': _length, date: _date, connection: _connection, ...rest } = res.headers as Record<string, string>
      return { status: res.statusCode, headers: rest, body: res.body }
    }
  }
}

t.test('ext_authz Check', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const grpc = await setup(t, server)
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })

  await t.test('allowed: OK, the identity headers overwrite the client\'s, the empty ones are removed', async (t) => {
    const before = server.authorizer.cacheStats().decisions
    const response = await grpc.check({ headers: { ...parent.headers, 'x-keygate-user-id': 'usr_forged', 'x-keygate-actor-id': 'usr_forged' } })
    t.equal(response.status?.code ?? 0, grpcStatus.OK)
    t.notOk(response.denied_response)
    const set = setHeaders(response)
    t.same(set, {
      'x-keygate-user-id': parent.id,
      'x-keygate-key-id': parent.keyId,
      'x-keygate-credential': 'secret_key',
      'x-keygate-decision-id': set['x-keygate-decision-id']
    })
    t.match(set['x-keygate-decision-id'], UUID)
    for (const option of response.ok_response?.headers ?? []) {
      t.same(option.append, { value: false }, `${option.header.key}: overwritten on every Envoy version`)
      t.equal(option.append_action, OVERWRITE)
    }
    t.same(response.ok_response?.headers_to_remove, ['x-keygate-actor-id'], 'no actor: the client\'s copy is removed')
    t.same(response.dynamic_metadata?.fields, {
      decision_id: { stringValue: set['x-keygate-decision-id'] },
      subject: { stringValue: parent.id },
      key_id: { stringValue: parent.keyId },
      credential_type: { stringValue: 'secret_key' }
    })
    const after = server.authorizer.cacheStats().decisions
    t.equal(after.hits + after.misses, before.hits + before.misses + 1, 'decided by the same authorizer (its memo counts the check)')
  })

  await t.test('the request as the authorizer sees it: method, path without its query, credential headers only', async (t) => {
    grpc.asked.length = 0
    await grpc.check({ method: 'POST', path: '/api/v1/bot/create?draft=true', headers: { ...parent.headers, cookie: 'a=b' } })
    t.match(grpc.asked[0], { method: 'POST', path: '/api/v1/bot/create', headers: { authorization: [parent.headers.authorization] } })
    t.notOk('cookie' in (grpc.asked[0]?.headers ?? {}))
    t.notOk(':path' in (grpc.asked[0]?.headers ?? {}))
  })

  await t.test('the query string takes no part in the decision', async (t) => {
    t.equal((await grpc.check({ path: '/api/v1/bot/list?next=%2e%2e%2fadmin', headers: parent.headers })).status?.code ?? 0, grpcStatus.OK)
    t.equal((await grpc.check({ path: '/api/v1/bot/%2e%2e/list', headers: parent.headers })).status?.code, grpcStatus.PERMISSION_DENIED)
  })

  await t.test('RFC 6750 §2: a Bearer header and an access_token parameter is a 400 invalid_request', async (t) => {
    for (const path of ['/api/v1/bot/list?access_token=x', '/api/v1/bot/list?a=1&access%5Ftoken=', '/api/v1/bot/list?access_token']) {
      const response = await grpc.check({ path, headers: parent.headers })
      t.equal(response.status?.code, grpcStatus.INVALID_ARGUMENT, path)
      const denied = deniedAnswer(response)
      t.equal(denied.status, 400, path)
      t.equal(denied.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_request"', path)
      t.equal(JSON.parse(denied.body ?? '').code, 'INVALID_REQUEST')
    }
    const alone = await grpc.check({ path: `/api/v1/bot/list?access_token=${parent.token.slice(7)}` })
    t.equal(deniedAnswer(alone).status, 401, 'an access_token parameter alone is no credential: 401')
    const other = await grpc.check({ path: '/api/v1/bot/list?token=x&access_tokens=y', headers: parent.headers })
    t.equal(other.status?.code ?? 0, grpcStatus.OK, 'other parameters are not a token')
  })

  await t.test('denied: forward-auth\'s status, body and challenge, with a non-OK gRPC status', async (t) => {
    const revoked = await server.account()
    await store.revokeKey(revoked.keyId)
    server.authorizer.invalidate({ keyId: revoked.keyId })
    const other = await server.account()
    const cases: Array<[string, HttpRequestOptions, number, number]> = [
      ['no credential', {}, 401, grpcStatus.UNAUTHENTICATED],
      ['Basic', { headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 401, grpcStatus.UNAUTHENTICATED],
      ['an unknown key', { headers: bearer(`sk-${'A'.repeat(49)}`) }, 401, grpcStatus.UNAUTHENTICATED],
      ['a revoked key', { headers: revoked.headers }, 401, grpcStatus.UNAUTHENTICATED],
      ['a bad credential with X-RunAs', { headers: { ...bearer('garbage'), 'x-runas-user-id': child.id } }, 401, grpcStatus.UNAUTHENTICATED],
      ['not your child', { headers: { ...other.headers, 'x-runas-user-id': child.id } }, 403, grpcStatus.PERMISSION_DENIED],
      ['an unknown child by e-mail', { headers: { ...parent.headers, 'x-runas-child-user-email': 'nobody@example.com' } }, 403, grpcStatus.PERMISSION_DENIED],
      ['an operator route', { path: '/admin/v1/user/create', method: 'POST', headers: parent.headers }, 403, grpcStatus.PERMISSION_DENIED]
    ]
    for (const [name, request, status, code] of cases) {
      const response = await grpc.check(request)
      t.equal(response.status?.code, code, name)
      t.notOk(response.ok_response, name)
      const expected = await grpc.forwardAuth(request)
      t.equal(expected.status, status, `${name}: forward-auth says ${status}`)
      t.same(deniedAnswer(response), expected, `${name}: the same answer as forward-auth`)
    }
    const refused = await grpc.check({ headers: { ...other.headers, 'x-runas-user-id': child.id } })
    t.match(refused.dynamic_metadata?.fields, { subject: { stringValue: other.id }, decision_id: { stringValue: UUID } }, 'a denial is logged by Envoy with its decision id')
  })

  await t.test('impersonation by id and by e-mail: the child as subject, the parent as actor', async (t) => {
    for (const runAs of [{ 'x-runas-user-id': child.id }, { 'x-runas-child-user-email': ` ${child.email.toUpperCase()} ` }]) {
      const name = Object.keys(runAs)[0] as string
      const response = await grpc.check({ path: '/api/v1/dataset/list', headers: { ...parent.headers, ...runAs } })
      t.equal(response.status?.code ?? 0, grpcStatus.OK, name)
      t.match(setHeaders(response), { 'x-keygate-user-id': child.id, 'x-keygate-actor-id': parent.id, 'x-keygate-key-id': parent.keyId }, name)
      t.same(response.ok_response?.headers_to_remove ?? [], [], `${name}: every identity header is set`)
      t.match(response.dynamic_metadata?.fields, { subject: { stringValue: child.id }, actor: { stringValue: parent.id } }, name)
    }
  })

  await t.test('a session token: credential "session", the session id', async (t) => {
    const session = await server.sessions.mint({ userId: child.id })
    const response = await grpc.check({ headers: bearer(session.token) })
    t.match(setHeaders(response), { 'x-keygate-user-id': child.id, 'x-keygate-credential': 'session', 'x-keygate-key-id': session.id })
  })

  await t.test('encode_raw_headers: header_map with raw bytes, repeats kept', async (t) => {
    const ok = await grpc.check({ raw: [['Authorization', parent.headers.authorization], ['x-runas-user-id', child.id]] })
    t.match(setHeaders(ok), { 'x-keygate-user-id': child.id, 'x-keygate-actor-id': parent.id })
    const twice = await grpc.check({ raw: [['authorization', parent.headers.authorization], ['authorization', parent.headers.authorization]] })
    t.equal(deniedAnswer(twice).status, 401, 'two Authorization headers are no credential')
    const runAsTwice = await grpc.check({ raw: [['authorization', parent.headers.authorization], ['x-runas-user-id', child.id], ['x-runas-user-id', child.id]] })
    t.equal(deniedAnswer(runAsTwice).status, (await grpc.forwardAuth({ headers: { ...parent.headers, 'x-runas-user-id': [child.id, child.id] } as never })).status,
      'a repeated X-RunAs header: as forward-auth answers it')
  })

  await t.test('a malformed request: a 400 denial, or a failed call; never an OK', async (t) => {
    const cases: Record<string, object> = {
      'no attributes': {},
      'no HTTP request': { attributes: { source: {} } },
      'no path': checkRequest({ path: '' }),
      'no method': checkRequest({ method: '' })
    }
    for (const [name, request] of Object.entries(cases)) {
      const response = await grpc.client.check(request)
      t.equal(response.status?.code, grpcStatus.INVALID_ARGUMENT, name)
      t.notOk(response.ok_response, name)
      t.equal(deniedAnswer(response).status, 400, name)
      t.equal(JSON.parse(deniedAnswer(response).body ?? '').code, 'INVALID_REQUEST', name)
    }
    await t.rejects(grpc.client.checkBytes(Buffer.from([0x0a, 0xff, 0xff, 0xff])), { code: grpcStatus.INTERNAL }, 'bytes that are no CheckRequest: the call fails')
  })
}))
