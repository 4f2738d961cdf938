/**
 * The standalone server over real HTTP, on PostgreSQL behind a TCP proxy that
 * the tests cut: silent (a partition: connections open, nothing answers) and
 * refusing (the server gone). docs/operations.md, "When the store fails": /readyz, the
 * management API, session tokens and introspection are a 503 in the documented shape while
 * the store is gone, never a 401 or 403, and all work again once it is back,
 * with no restart.
 */
import t from 'tap'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { openStore, StoreUnavailableError } from '../../src/store/index.js'
import { createTestDatabase } from '../helpers/databases.js'
import { missing } from '../helpers/requires.js'
import { bearer, testServer, type AccountRequest, type HttpAnswer, type HttpRequest, type TestAccount, type TestServer } from '../helpers/server.js'
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { until } from '../helpers/until.js'

const SERVICE_UNAVAILABLE = '{"message":"Service unavailable","code":"SERVICE_UNAVAILABLE"}'
const CUTS = ['silent', 'refuse'] as const

/** Polls the request until it answers `status`: the store came back, and nothing was restarted. */
async function recovers (server: TestServer, request: HttpRequest, status: number): Promise<HttpAnswer> {
  let last: HttpAnswer | undefined
  let pending = false
  await until(() => {
    if (last?.statusCode === status) return true
    if (!pending) {
      pending = true
      void server.http(request).then((answer) => { last = answer }, () => {}).finally(() => { pending = false })
    }
    return false
  }, 20_000)
  return last as HttpAnswer
}

t.test('a real store outage under the server', async (t) => {
  if (missing(t, 'postgres')) return
  const url = await createTestDatabase(t)
  const proxy: TcpProxy = await tcpProxy(t, Number(new URL(url).port || 5432))
  // Driver timeouts of 1 s: a silent store fails a query after 2 s (statement timeout + 1 s), not after minutes.
  const store = await openStore({ databaseUrl: proxy.url(url), connectionTimeoutMillis: 1_000, statementTimeoutMillis: 1_000, onError: () => {} })
  t.teardown(async () => { await store.close() })
  const server = await testServer(t, store)
  // Whatever a subtest leaves behind, the store is back for the next one and for the teardowns.
  t.afterEach(() => { proxy.set('up') })
  const resyncs = (): number => server.events.filter((e) => e.type === 'resync').length
  /** A new account, once the store's announcement of its key has come (it would drop the key from the caches at any moment). */
  const account = async (request?: AccountRequest): Promise<TestAccount> => {
    const created = await server.account(request)
    await until(() => server.events.some((e) => e.type === 'invalidated' && e.change.type === 'key' && e.change.id === created.keyId))
    return created
  }
  /**
   * The store back. A refusal broke the LISTEN connection: once it listens again, every cache is
   * cleared (notifications may have been missed). Waiting for that keeps it from clearing them later, mid-test.
   */
  const restore = async (cut: typeof CUTS[number]): Promise<void> => {
    const before = resyncs()
    proxy.set('up')
    if (cut === 'refuse') await until(() => resyncs() > before, 20_000)
  }
  const revision = server.authorizer.policy.revision

  await t.test('/readyz: 503 while the store is silent or refuses, ready again once it answers', async (t) => {
    const ready = await server.http({ url: '/readyz' })
    t.equal(ready.statusCode, 200)
    t.match(ready.json(), { status: 'ready', store: 'ok', policyRevision: revision })
    for (const cut of CUTS) {
      proxy.set(cut)
      const down = await server.http({ url: '/readyz' })
      t.equal(down.statusCode, 503, cut)
      t.match(down.json(), { status: 'unavailable', store: 'unavailable', policyRevision: revision, policy: { revision } }, cut)
      await restore(cut)
      t.match((await recovers(server, { url: '/readyz' }, 200)).json(), { status: 'ready', store: 'ok' }, `${cut}: ready again`)
    }
  })

  await t.test('the management API: 503 in the JSON shape while the store is cut, served again once it is back', async (t) => {
    const user = await account()
    const list = { url: '/api/v1/token/list', headers: user.headers }
    const create = { method: 'POST', url: '/api/v1/token/create', headers: user.headers, payload: {} }
    const check = { url: '/v1/forward-auth', headers: { ...user.headers, 'x-original-uri': '/api/v1/bot/list' } }
    t.equal((await server.http(list)).statusCode, 200, 'listed, and the key is cached')
    for (const cut of CUTS) {
      const lostBefore = server.events.filter((e) => e.type === 'listen_lost').length
      proxy.set(cut)
      if (cut === 'silent') {
        // The key is served from the caches: the 503 below is the management API's own store query failing.
        t.equal((await server.http(check)).statusCode, 200, `${cut}: the cached key is still allowed`)
      } else {
        // A refusal breaks the LISTEN connection too: a revocation could now go unheard, so nothing cached is trusted.
        await until(() => server.events.filter((e) => e.type === 'listen_lost').length > lostBefore, 5_000)
        t.equal((await server.http(check)).statusCode, 503, `${cut}: the cached key is no longer trusted (the LISTEN connection is lost)`)
      }
      for (const request of [list, create]) {
        const res = await server.http(request)
        t.same({ status: res.statusCode, body: res.body }, { status: 503, body: SERVICE_UNAVAILABLE }, `${cut}: ${request.url}`)
      }
      await restore(cut)
      t.equal((await recovers(server, list, 200)).statusCode, 200, `${cut}: listed again, and the key is cached again`)
    }
    const issued = await server.http(create)
    t.equal(issued.statusCode, 200, 'a key issued once the store is back')
    t.equal((await server.http({ ...check, headers: { ...bearer(issued.json().token), 'x-original-uri': '/api/v1/bot/list' } })).statusCode, 200,
      'and it works')
  })

  await t.test('session tokens: 503 while the store is cut, never a 401; verified again once it is back', async (t) => {
    const user = await account()
    const check = (token: string): HttpRequest => ({ url: '/v1/forward-auth', headers: { ...bearer(token), 'x-original-uri': '/api/v1/bot/list' } })
    for (const cut of CUTS) {
      // Minted while the store is up, never presented: its session row must be read to verify it.
      const minted = await server.sessions.mint({ userId: user.id })
      // The account's key cached: the session route below fails on its own store query, not on the key's.
      t.equal((await server.http(check(user.token))).statusCode, 200, `${cut}: the key, before the cut`)
      proxy.set(cut)
      await t.rejects(server.sessions.verify(minted.token), StoreUnavailableError, `${cut}: verify fails as an outage, not as a bad token`)
      const res = await server.http(check(minted.token))
      t.same({ status: res.statusCode, body: res.body }, { status: 503, body: SERVICE_UNAVAILABLE }, `${cut}: the check`)
      await t.rejects(server.sessions.mint({ userId: user.id }), StoreUnavailableError, `${cut}: a session cannot be minted`)
      const create = await server.http({ method: 'POST', url: '/api/v1/session/create', headers: user.headers, payload: { durationInSeconds: 60 } })
      t.same({ status: create.statusCode, body: create.body }, { status: 503, body: SERVICE_UNAVAILABLE }, `${cut}: nor created through the API`)
      await restore(cut)
      const back = await recovers(server, check(minted.token), 200)
      t.same([back.headers['x-keygate-credential'], back.headers['x-keygate-user-id']], ['session', user.id], `${cut}: verified again`)
    }
  })

  await t.test('introspection: 503 while the store is cut, never {"active":false}; answered again once it is back', async (t) => {
    const admin = await account({ role: 'admin' })
    // A key never seen each time: an unknown key once looked up is answered from the negative cache, store or not.
    const introspect = (): HttpRequest => ({
      method: 'POST',
      url: '/oauth2/introspect',
      headers: { ...admin.headers, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: generateSecretKey().key }).toString()
    })
    t.equal((await server.http(introspect())).body, '{"active":false}', 'answered, and the admin\'s key is cached')
    for (const cut of CUTS) {
      proxy.set(cut)
      const res = await server.http(introspect())
      t.same({ status: res.statusCode, body: res.body }, { status: 503, body: SERVICE_UNAVAILABLE }, cut)
      await restore(cut)
      t.equal((await recovers(server, introspect(), 200)).body, '{"active":false}', `${cut}: answered again`)
    }
  })
})
