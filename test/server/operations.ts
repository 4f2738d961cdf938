import { request as httpRequest } from 'node:http'
import { Writable } from 'node:stream'
import t from 'tap'
import { BODY_LIMIT_BYTES, HEADER_LIMIT_BYTES } from '../../src/server/app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { testServer } from '../helpers/server.js'

t.test('operations', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const { app } = server
  const user = await server.account()

  await t.test('/healthz and /readyz', async (t) => {
    const health = await app.inject({ url: '/healthz' })
    t.equal(health.statusCode, 200)
    t.same(health.json(), { status: 'ok' })
    const ready = await app.inject({ url: '/readyz' })
    t.equal(ready.statusCode, 200)
    t.match(ready.json(), {
      status: 'ready',
      store: 'ok',
      policyRevision: server.authorizer.policy.revision,
      policy: { revision: server.authorizer.policy.revision, loadedAt: String, reloads: 0, failures: 0, lastFailureAt: null }
    })
    t.not(server.authorizer.policy.revision, '', 'the built bundle has a revision')
  })

  await t.test('/metrics: decisions by status and code, latency', async (t) => {
    await app.inject({ url: '/v1/forward-auth', headers: { ...user.headers, 'x-original-uri': '/api/v1/bot/list' } })
    await app.inject({ url: '/v1/forward-auth', headers: { 'x-original-uri': '/api/v1/bot/list' } })
    await app.inject({ url: '/v1/forward-auth', headers: { ...user.headers, 'x-original-uri': '/api/v1/bot/list', 'x-runas-user-id': user.id } })
    const res = await app.inject({ url: '/metrics' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/plain/)
    t.match(res.body, /^keygate_decisions_total\{status="200",code="OK"\} [1-9]/m)
    t.match(res.body, /^keygate_decisions_total\{status="401",code="NOT_AUTHENTICATED"\} [1-9]/m)
    t.match(res.body, /^keygate_decisions_total\{status="403",code="NOT_AUTHORIZED"\} [1-9]/m)
    t.match(res.body, /^keygate_decision_duration_seconds_count\{status="200"\} [1-9]/m)
    t.match(res.body, /^keygate_process_cpu_seconds_total /m)
  })

  await t.test('/metrics: cache hits, misses and sizes', async (t) => {
    const figure = async (name: string, cache: string): Promise<number> => {
      const body = (await app.inject({ url: '/metrics' })).body
      const line = new RegExp(`^${name}\\{cache="${cache}"\\} (\\d+)$`, 'm').exec(body)
      t.ok(line, `${name}{cache="${cache}"} exported`)
      return Number(line?.[1])
    }
    const other = await server.account()
    const before = { hits: await figure('keygate_cache_hits_total', 'keys'), misses: await figure('keygate_cache_misses_total', 'keys') }
    // Four requests the decision memo has not seen: each resolves its key.
    for (const resource of ['bot', 'dataset', 'skillset', 'file']) {
      await app.inject({ url: '/v1/forward-auth', headers: { ...other.headers, 'x-original-uri': `/api/v1/${resource}/list` } })
    }
    const hits = await figure('keygate_cache_hits_total', 'keys') - before.hits
    const misses = await figure('keygate_cache_misses_total', 'keys') - before.misses
    t.equal(hits + misses, 4, 'one key lookup per request')
    // The key's creation is announced (LISTEN/NOTIFY on pg) and may drop the entry once, at any moment.
    t.ok(misses >= 1 && misses <= 2, `a new key is a miss (${misses})`)
    t.ok(hits >= 2, `then hits (${hits})`)
    t.ok(await figure('keygate_cache_entries', 'keys') >= 2)
    await figure('keygate_cache_entries', 'accounts')
    await figure('keygate_cache_hits_total', 'children')
    const memoBefore = await figure('keygate_cache_hits_total', 'decisions')
    for (let i = 0; i < 5; i++) await app.inject({ url: '/v1/forward-auth', headers: { ...other.headers, 'x-original-uri': '/api/v1/bot/list' } })
    t.ok(await figure('keygate_cache_hits_total', 'decisions') > memoBefore, 'a repeated request is answered by the decision memo')
  })

  await t.test('/openapi.json documents every route', async (t) => {
    const res = await app.inject({ url: '/openapi.json' })
    t.equal(res.statusCode, 200)
    const doc = res.json()
    t.equal(doc.openapi, '3.1.0')
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
    for (const route of [
      'POST /v1/authorize',
      'GET /v1/forward-auth', 'POST /v1/forward-auth', 'GET /v1/forward-auth/{*}',
      'POST /api/v1/partner/user/create', 'GET /api/v1/partner/user/list', 'GET /api/v1/partner/user/{id}/fetch',
      'POST /api/v1/partner/user/{id}/update', 'POST /api/v1/partner/user/{id}/delete', 'POST /api/v1/partner/user/{id}/token/create',
      'POST /api/v1/token/create', 'GET /api/v1/token/list', 'POST /api/v1/token/{id}/delete', 'POST /api/v1/token/{id}/roll',
      'POST /admin/v1/user/create', 'GET /admin/v1/user/{id}/fetch', 'POST /admin/v1/user/{id}/update', 'POST /admin/v1/user/{id}/token/create',
      'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /openapi.json'
    ]) {
      t.ok(documented.includes(route), route)
    }
    const create = doc.paths['/api/v1/token/create'].post
    t.equal(create.requestBody.content['application/json'].schema.additionalProperties, false)
  })

  await t.test('unknown routes, oversized and unparseable bodies: JSON errors', async (t) => {
    const missing = await app.inject({ url: '/nowhere' })
    t.equal(missing.statusCode, 404)
    t.equal(missing.body, '{"message":"Not found","code":"NOT_FOUND"}')
    const big = await app.inject({
      method: 'POST', url: '/api/v1/token/create', headers: user.headers, payload: { name: 'x'.repeat(BODY_LIMIT_BYTES) }
    })
    t.equal(big.statusCode, 413)
    t.equal(big.body, '{"message":"Request body too large","code":"PAYLOAD_TOO_LARGE"}')
    const text = await app.inject({
      method: 'POST', url: '/api/v1/token/create', headers: { ...user.headers, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=x'
    })
    t.equal(text.statusCode, 415, text.body)
    t.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE')
    // Fastify parses text/plain by default; Keygate's bodies are JSON only.
    for (const [url, headers] of [['/api/v1/token/create', user.headers], ['/v1/authorize', {}]] as const) {
      const plain = await app.inject({ method: 'POST', url, headers: { ...headers, 'content-type': 'text/plain' }, payload: '{"name":"x"}' })
      t.equal(plain.statusCode, 415, `text/plain to ${url}: ${plain.body}`)
      t.equal(plain.body, '{"message":"Unsupported media type","code":"UNSUPPORTED_MEDIA_TYPE"}')
    }
    const proto = await app.inject({
      method: 'POST', url: '/v1/authorize', headers: { 'content-type': 'application/json' }, payload: '{"method":"GET","path":"/","__proto__":{"x":1}}'
    })
    t.equal(proto.statusCode, 400)
    t.equal(proto.json().code, 'INVALID_REQUEST')
  })

  await t.test('a store fault is 503, never 401 or 403', async (t) => {
    const broken = await testServer(t, store)
    const key = await broken.account()
    const query = store.database.query.bind(store.database)
    const read = store.database.read.bind(store.database)
    const { StoreUnavailableError } = await import('../../src/store/errors.js')
    store.database.query = async () => { throw new StoreUnavailableError('down') }
    store.database.read = async () => { throw new StoreUnavailableError('down') }
    const restore = (): void => { store.database.query = query; store.database.read = read }
    t.teardown(restore)
    for (const [method, url] of [['GET', '/api/v1/token/list'], ['POST', '/api/v1/token/create']] as const) {
      const res = await broken.app.inject({ method, url, headers: key.headers })
      t.equal(res.statusCode, 503, url)
      t.equal(res.body, '{"message":"Service unavailable","code":"SERVICE_UNAVAILABLE"}')
    }
    const check = await broken.app.inject({ url: '/v1/forward-auth', headers: { ...key.headers, 'x-original-uri': '/api/v1/bot/list' } })
    t.equal(check.statusCode, 503)
    const ready = await broken.app.inject({ url: '/readyz' })
    t.equal(ready.statusCode, 503)
    t.match(ready.json(), { status: 'unavailable', store: 'unavailable' })
    restore()
  })

  await t.test('JSON logs without secrets', async (t) => {
    const lines: string[] = []
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const logged = await testServer(t, store, { logger: { level: 'trace', stream } })
    const key = await logged.account()
    await logged.app.inject({ url: '/v1/forward-auth/api/v1/bot/list?api_key=sk-query-secret', headers: key.headers })
    const issued = await logged.app.inject({ method: 'POST', url: '/api/v1/token/create?token=also-secret', headers: key.headers, payload: {} })
    t.equal(issued.statusCode, 200)
    const log = lines.join('')
    t.match(log, /"url":"\/v1\/forward-auth\/api\/v1\/bot\/list"/, 'request lines are logged, without the query')
    for (const secret of [key.token, issued.json().token, 'sk-query-secret', 'also-secret']) t.notOk(log.includes(secret), 'no secret in the log')
    for (const line of lines) t.doesNotThrow(() => JSON.parse(line))
  })

  await t.test('oversized headers: 431 in the same JSON shape', async (t) => {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as { port: number }
    const answer = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', headers: { 'x-filler': 'x'.repeat(HEADER_LIMIT_BYTES) } }, (res) => {
        let body = ''
        res.on('data', (chunk) => { body += String(chunk) })
        res.on('end', () => { resolve({ status: res.statusCode, body }) })
      })
      req.on('error', reject)
      req.end()
    })
    t.same(answer, { status: 431, body: '{"message":"Request headers too large","code":"HEADERS_TOO_LARGE"}' })
  })
}))
