/**
 * Envoy's gRPC ext_authz on a real gRPC listener, asked by a client built from
 * Envoy's own protos: the same decisions and answers as HTTP forward-auth.
 */
import { status as grpcStatus } from '@grpc/grpc-js'
import t, { type Test } from 'tap'
import { createAuthorizer, type AuthorizeRequest } from '../../src/authorizer/index.js'
import { createAccount, issueKey, setKeyLimits } from '../../src/manage/index.js'
import { listenGrpc, type GrpcServerOptions } from '../../src/server/grpc.js'
import { openStore, Store, StoreUnavailableError, type Database } from '../../src/store/index.js'
import { createTestDatabase, forEachDatabase, testDatabases } from '../helpers/databases.js'
import { tcpProxy } from '../helpers/tcp-proxy.js'
import { checkRequest, deniedAnswer, extAuthzClient, setHeaders, type CheckResponse, type ExtAuthzClient, type HttpRequestOptions } from '../helpers/ext-authz.js'
import { bearer, testPolicy, testServer, type TestServer } from '../helpers/server.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
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

  await t.test('allowed answers of one identity reuse their encoding: each carries its own decision id and its own identity', async (t) => {
    const other = await server.account()
    const seen = new Set<string>()
    for (const account of [parent, parent, other, parent, other]) {
      const response = await grpc.check({ headers: account.headers })
      const set = setHeaders(response)
      const id = set['x-keygate-decision-id'] as string
      t.match(id, UUID)
      t.notOk(seen.has(id), 'a new decision id for every check')
      seen.add(id)
      t.same(set, { 'x-keygate-user-id': account.id, 'x-keygate-key-id': account.keyId, 'x-keygate-credential': 'secret_key', 'x-keygate-decision-id': id })
      t.same(response.dynamic_metadata?.fields, {
        decision_id: { stringValue: id },
        subject: { stringValue: account.id },
        key_id: { stringValue: account.keyId },
        credential_type: { stringValue: 'secret_key' }
      })
    }
  })

  await t.test('the request as the authorizer sees it: method, path without its query, credential headers only', async (t) => {
    grpc.asked.length = 0
    await grpc.check({ method: 'POST', path: '/api/v1/bot/create?draft=true', headers: { ...parent.headers, cookie: 'a=b' } })
    t.match(grpc.asked[0], { method: 'POST', headers: { authorization: [parent.headers.authorization] } })
    t.equal(grpc.asked[0]?.path, '/api/v1/bot/create')
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
    const lowerCase = await grpc.check({ path: '/api/v1/bot/list?access_token=x', headers: { authorization: parent.headers.authorization.replace('Bearer', 'bearer') } })
    t.equal(deniedAnswer(lowerCase).status, 400, 'the scheme name is case-insensitive')
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

  await t.test('under a rate limit: the RateLimit headers for the client on the OK, and on the 429 (RESOURCE_EXHAUSTED)', async (t) => {
    const limited = await server.account()
    await setKeyLimits(store, limited.keyId, { rate: { limit: 2, windowSeconds: 3600 } })
    server.authorizer.invalidate({ keyId: limited.keyId })
    const first = await grpc.check({ headers: limited.headers })
    t.equal(first.status?.code ?? 0, grpcStatus.OK)
    const added = Object.fromEntries((first.ok_response?.response_headers_to_add ?? []).map((option) => [option.header.key, option.header.value]))
    t.same(Object.keys(added), ['ratelimit-policy', 'ratelimit'], 'added to the answer the client gets')
    t.equal(added['ratelimit-policy'], '"key:rate";q=2;w=3600')
    t.match(added.ratelimit, /^"key:rate";r=1;t=\d+$/)
    t.notOk('ratelimit' in setHeaders(first), 'not sent upstream')
    for (const option of first.ok_response?.response_headers_to_add ?? []) t.equal(option.append_action, OVERWRITE)
    const second = await grpc.check({ headers: limited.headers })
    t.match(Object.fromEntries((second.ok_response?.response_headers_to_add ?? []).map((o) => [o.header.key, o.header.value])), { ratelimit: /^"key:rate";r=0;/ })
    const refused = await grpc.check({ headers: limited.headers })
    t.equal(refused.status?.code, grpcStatus.RESOURCE_EXHAUSTED)
    t.match(deniedAnswer(refused), { status: 429, headers: { 'retry-after': /^\d+$/, 'ratelimit-policy': '"key:rate";q=2;w=3600', ratelimit: /^"key:rate";r=0;t=\d+$/ } })
    const unlimited = await grpc.check({ headers: parent.headers })
    t.same(unlimited.ok_response?.response_headers_to_add ?? [], [], 'a key without limits: none')
  })

  await t.test('impersonation by id and by e-mail: the child as subject, the parent as actor', async (t) => {
    const runAsHeaders: Array<Record<string, string>> = [{ 'x-runas-user-id': child.id }, { 'x-runas-child-user-email': ` ${child.email.toUpperCase()} ` }]
    for (const runAs of runAsHeaders) {
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

t.test('options: Authorization removed before the upstream; whom to believe about scheme and client', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const parent = await server.account()

  const plain = await setup(t, server)
  const kept = await plain.check({ headers: parent.headers })
  t.notOk(kept.ok_response?.headers_to_remove?.includes('authorization'), 'by default the upstream gets the Authorization header')
  t.same([plain.asked.at(-1)?.scheme, plain.asked.at(-1)?.client], ['http', { address: '127.0.0.1' }],
    'an untrusted caller: the gRPC connection\'s scheme and the peer\'s address, whatever the CheckRequest says')

  const removing = await setup(t, server, { removeAuthorization: true })
  const removed = await removing.check({ headers: parent.headers })
  t.ok(removed.ok_response?.headers_to_remove?.includes('authorization'), 'KEYGATE_GRPC_REMOVE_AUTHORIZATION')
  const refused = await removing.check({})
  t.equal(deniedAnswer(refused).status, 401, 'a denial is unchanged')

  const trusting = await setup(t, server, { trustProxy: ['127.0.0.1'] })
  await trusting.check({ headers: parent.headers, scheme: 'https', source: '198.51.100.9' })
  t.same([trusting.asked.at(-1)?.scheme, trusting.asked.at(-1)?.client], ['https', { address: '198.51.100.9' }], 'a trusted Envoy states both')
  await trusting.check({ headers: parent.headers, scheme: 'http' })
  t.equal(trusting.asked.at(-1)?.scheme, 'http')
  const elsewhere = await setup(t, server, { trustProxy: ['10.0.0.0/8'] })
  await elsewhere.check({ headers: parent.headers, scheme: 'https', source: '198.51.100.9' })
  t.same([elsewhere.asked.at(-1)?.scheme, elsewhere.asked.at(-1)?.client], ['http', { address: '127.0.0.1' }], 'trust is by the peer\'s address')
}))

t.test('the health service follows /readyz', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const listener = await listenGrpc({ authorizer: server.authorizer, host: '127.0.0.1', port: 0 })
  t.teardown(listener.close)
  const client = extAuthzClient(t, listener.address)
  t.equal(await client.health(), 'SERVING', 'the server as a whole')
  t.equal(await client.health('envoy.service.auth.v3.Authorization'), 'SERVING', 'the ext_authz service')
  await t.rejects(client.health('some.other.Service'), { code: grpcStatus.NOT_FOUND }, 'an unknown service')
  t.equal(await client.watch('').next(), 'SERVING', 'Watch sends the status at once')
  t.equal(await client.watch('some.other.Service').next(), 'SERVICE_UNKNOWN', 'and SERVICE_UNKNOWN for an unknown service, without ending the call')
  t.equal((await server.app.inject({ url: '/readyz' })).statusCode, 200)
}))

/** A database whose queries fail as an unreachable store's do, while cut (PGlite has no network to cut). */
function cuttable (db: Database): { db: Database; set(cut: boolean): void } {
  let cut = false
  const refuse = (): never => { throw new StoreUnavailableError('the store is cut (test)') }
  return {
    db: {
      driver: db.driver,
      query: async (sql, params) => { if (cut) refuse(); return await db.query(sql, params) },
      read: async (sql, params) => { if (cut) refuse(); return await db.read(sql, params) },
      exec: async (sql) => { if (cut) refuse(); await db.exec(sql) },
      transaction: async (fn) => { if (cut) refuse(); return await db.transaction(fn) },
      listen: async (channel, onPayload, options) => await db.listen(channel, onPayload, options),
      close: async () => {}
    },
    set (next) { cut = next }
  }
}

t.test('a store cut: 503 and UNAVAILABLE, NOT_SERVING, then recovery with no restart', async (t) => {
  for (const driver of testDatabases()) {
    await t.test(driver.name, async (t) => {
      let store: Store
      let setStore: (mode: 'up' | 'cut') => void
      let setupStore: Store
      if (driver.name === 'pg') {
        const url = await createTestDatabase(t)
        setupStore = await openStore({ databaseUrl: url })
        t.teardown(async () => { await setupStore.close() })
        const proxy = await tcpProxy(t, Number(new URL(url).port || 5432))
        store = await openStore({ databaseUrl: proxy.url(url), migrate: false, connectionTimeoutMillis: 500, statementTimeoutMillis: 500, onError: () => {} })
        t.teardown(async () => { await store.close() })
        // A partition; it ends as one does, the connections it held reset (else they would wait forever).
        setStore = (mode) => {
          if (mode === 'cut') proxy.set('silent')
          else { proxy.set('refuse'); proxy.set('up') }
        }
      } else {
        const db = await driver.open(t, { migrated: true })
        const cut = cuttable(db)
        store = new Store(cut.db)
        setupStore = new Store(db)
        setStore = (mode) => { cut.set(mode === 'cut') }
      }
      const authorizer = await createAuthorizer({ store, policy: await testPolicy(), decisionTimeoutMs: 300, cache: { staleIfErrorMs: 0 } })
      t.teardown(async () => { await authorizer.close() })
      const listener = await listenGrpc({ authorizer, host: '127.0.0.1', port: 0, watchIntervalMs: 20 })
      t.teardown(listener.close)
      const client = extAuthzClient(t, listener.address)
      const user = await createAccount(setupStore, { email: 'cut@example.com' })
      const seen = await issueKey(setupStore, { userId: user.id })
      const unseen = await issueKey(setupStore, { userId: user.id })
      const check = async (token: string): Promise<CheckResponse> => await client.check(checkRequest({ headers: bearer(token) }))

      t.equal((await check(seen.token)).status?.code ?? 0, grpcStatus.OK, 'before the cut')
      const watch = client.watch('')
      t.equal(await watch.next(), 'SERVING', 'Watch: serving')
      t.equal(await client.health(), 'SERVING')

      setStore('cut')
      const during = await check(unseen.token)
      t.equal(during.status?.code, grpcStatus.UNAVAILABLE, 'a key never seen, the store cut: UNAVAILABLE')
      t.notOk(during.ok_response, 'never an OK')
      t.same(deniedAnswer(during), {
        status: 503,
        headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
        body: '{"message":"Service unavailable","code":"SERVICE_UNAVAILABLE"}'
      }, 'forward-auth\'s 503')
      t.equal(await client.health(), 'NOT_SERVING', 'health: NOT_SERVING while the store is cut')
      t.equal(await watch.next(), 'NOT_SERVING', 'Watch: the change is sent')

      setStore('up')
      let recovered = false
      for (let tries = 0; tries < 200 && !recovered; tries++) {
        recovered = ((await check(unseen.token)).status?.code ?? 0) === grpcStatus.OK
        if (!recovered) await new Promise((resolve) => setTimeout(resolve, 50))
      }
      t.ok(recovered, 'the same key is allowed once the store is back, with no restart')
      t.equal(await client.health(), 'SERVING')
      t.equal(await watch.next(), 'SERVING', 'Watch: back')
    })
  }
})

t.test('a fault outside the decision: a 500 denial (INTERNAL), never an OK or a failed call', async (t) => {
  const errors: unknown[] = []
  const log = { level: 'info', debug: () => {}, warn: () => {}, error: (object: object) => { errors.push(object) } }
  const authorizer = { store: {} as never, authorize: async (): Promise<never> => { throw new Error('a bug') } }
  const listener = await listenGrpc({ authorizer, host: '127.0.0.1', port: 0, log })
  t.teardown(listener.close)
  const response = await extAuthzClient(t, listener.address).check(checkRequest({ headers: bearer('sk-x') }))
  t.equal(response.status?.code, grpcStatus.INTERNAL)
  t.notOk(response.ok_response)
  t.same(deniedAnswer(response), {
    status: 500,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: '{"message":"Internal error","code":"INTERNAL_ERROR"}'
  })
  t.equal(errors.length, 1, 'logged')
})
