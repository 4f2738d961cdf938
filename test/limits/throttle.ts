/** The failed-authentication throttle (src/limits/throttle.ts) through the authorizer and the server. */
import t from 'tap'
import { generateSecretKey } from '../../src/credentials/index.js'
import { harness } from '../helpers/authorizer.js'
import { auditServer } from '../helpers/audit.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer } from '../helpers/server.js'

const CALLER_TOKEN = 'throttle-caller-0123456789abcdefghijklmnopqrstuvwxyz'
const randomKey = (): string => generateSecretKey().key

t.test('a client is throttled after its failures, before any lookup, and released when the window ends', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db, { throttle: { client: { failures: 3, windowSeconds: 60 }, prefix: null } })
  const alice = await h.account({ email: 'alice@example.com' })
  const attacker = { address: '198.51.100.7' }
  for (let i = 0; i < 3; i++) t.equal((await h.authorize({ key: randomKey(), client: attacker })).status, 401)
  h.queries.length = 0
  const throttled = await h.authorize({ key: randomKey(), client: attacker })
  t.match(throttled, { allow: false, status: 429, code: 'RATE_LIMITED', retryAfterSeconds: 60, subject: null })
  t.same(throttled.reasons.map((r) => r.code), ['authentication_throttled'])
  // A valid key from the throttled address gets the same 429: the answer does not depend on the key.
  t.match(await h.authorize({ key: alice.key, client: attacker }), { status: 429, retryAfterSeconds: 60 })
  for (let i = 0; i < 50; i++) await h.authorize({ key: randomKey(), client: attacker })
  t.same(h.queries, [], 'a throttled flood costs no store query')

  await t.test('another client is unaffected', async (t) => {
    t.match(await h.authorize({ key: alice.key, client: { address: '203.0.113.1' } }), { allow: true, status: 200 })
    t.equal((await h.authorize({ key: randomKey(), client: { address: '203.0.113.1' } })).status, 401)
  })

  h.clock.now += 59_000
  t.match(await h.authorize({ key: alice.key, client: attacker }), { status: 429, retryAfterSeconds: 1 }, 'Retry-After counts down')
  h.clock.now += 1_000
  t.match(await h.authorize({ key: alice.key, client: attacker }), { allow: true, status: 200 }, 'released when the window ends')
  // Refused requests were not counted: a new window starts from nothing.
  for (let i = 0; i < 2; i++) t.equal((await h.authorize({ key: randomKey(), client: attacker })).status, 401)
  t.equal((await h.authorize({ key: alice.key, client: attacker })).status, 200)
}))

t.test('a key prefix is throttled whatever the client; other prefixes are not', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db, { throttle: { client: null, prefix: { failures: 2, windowSeconds: 30 } } })
  const alice = await h.account({ email: 'alice@example.com' })
  const bob = await h.account({ email: 'bob@example.com' })
  t.ok(await h.store.revokeKey(alice.keyId))
  // The revoked key, from two clients; the authorizer hears of the revocation within these tries.
  let status = 0
  for (let i = 0; status !== 429 && i < 200; i++) status = (await h.authorize({ key: alice.key, client: { address: `192.0.2.${i % 2}` } })).status
  t.equal(status, 429)
  h.queries.length = 0
  t.match(await h.authorize({ key: alice.key, client: { address: '192.0.2.99' } }), { status: 429, retryAfterSeconds: 30 })
  t.same(h.queries, [])
  t.match(await h.authorize({ key: bob.key, client: { address: '192.0.2.0' } }), { allow: true }, 'the other key, from the same client')
  t.match(await h.authorize({ key: bob.key }), { allow: true }, 'no client address: only prefixes count')
}))

t.test('over HTTP: byte-identical 429s, X-Forwarded-For under the trust rules, security event, metric, decision log', (t) => forEachDatabase(t, async (t, _db, store) => {
  const clock = { now: Date.now() }
  const server = await auditServer(t, store, {}, {
    clock: () => clock.now,
    throttle: { client: { failures: 3, windowSeconds: 60 }, prefix: null },
    app: { trustProxy: ['127.0.0.1'], decisionApiToken: CALLER_TOKEN }
  })
  const admin = await server.account({ role: 'admin' })
  const valid = await server.account()
  const revoked = await server.account()
  t.ok(await store.revokeKey(revoked.keyId))
  const check = async (headers: Record<string, string>, client: string): Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }> =>
    await server.app.inject({ url: '/v1/forward-auth', headers: { ...headers, 'x-original-uri': '/api/v1/bot/list', 'x-forwarded-for': client } })

  for (let i = 0; i < 3; i++) t.equal((await check(bearer(randomKey()), '198.51.100.7')).statusCode, 401)
  const answers = [
    await check(valid.headers, '198.51.100.7'),
    await check(revoked.headers, '198.51.100.7'),
    await check(bearer(randomKey()), '198.51.100.7'),
    await check(bearer('sk-not-even-well-formed'), '198.51.100.7')
  ]
  const shown = answers.map(({ statusCode, headers, body }) => {
    const { date: _date, ...rest } = headers
    return { statusCode, headers: rest, body }
  })
  t.match(shown[0], { statusCode: 429, headers: { 'retry-after': '60', 'content-type': 'application/json; charset=utf-8' } })
  t.same(JSON.parse(shown[0]?.body ?? ''), { message: 'Too many requests', code: 'RATE_LIMITED' })
  for (const other of shown.slice(1)) t.same(other, shown[0], 'existing, revoked, random and malformed keys: the same bytes')

  t.equal((await check(valid.headers, '198.51.100.8')).statusCode, 200, 'another client behind the same trusted proxy is unaffected')

  // The decision API: the same decision, in its body.
  const decided = await server.app.inject({
    method: 'POST',
    url: '/v1/authorize',
    payload: { method: 'GET', path: '/api/v1/bot/list', headers: valid.headers, client: { address: '198.51.100.7' } },
    headers: bearer(CALLER_TOKEN)
  })
  t.match(decided.json(), { allow: false, status: 429, code: 'RATE_LIMITED', retryAfterSeconds: 60, credential: { id: null, prefix: null } })

  t.equal(await server.metric('keygate_rate_limited_total', { reason: 'throttled_client' }), 5)
  t.equal(await server.metric('keygate_security_events_total', { event: 'authentication_throttled' }), 1, 'one event per window')
  await server.audit.flush()
  const logged = (await server.app.inject({ url: '/admin/v1/audit/list?status=429', headers: admin.headers })).json().items
  t.equal(logged.filter((e: { kind: string }) => e.kind === 'decision').length, 5, 'every 429 is in the decision log')
  t.match(logged.find((e: { kind: string }) => e.kind === 'security'), { event: 'authentication_throttled', group: { client_address: '198.51.100.7' } })
}))

t.test('without a trusted proxy, X-Forwarded-For is the client\'s own claim and changes nothing', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store, {}, { throttle: { client: { failures: 2, windowSeconds: 60 }, prefix: null } })
  const valid = await server.account()
  for (let i = 0; i < 2; i++) {
    t.equal((await server.app.inject({ url: '/v1/forward-auth', headers: { ...bearer(randomKey()), 'x-original-uri': '/api/v1/bot/list', 'x-forwarded-for': `10.0.0.${i}` } })).statusCode, 401)
  }
  const res = await server.app.inject({ url: '/v1/forward-auth', headers: { ...valid.headers, 'x-original-uri': '/api/v1/bot/list', 'x-forwarded-for': '10.0.0.200' } })
  t.equal(res.statusCode, 429, 'the peer is the client')
  t.equal(res.headers['retry-after'], '60')
}))
