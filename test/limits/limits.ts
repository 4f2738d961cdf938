/** Rate limits and quotas on keys and accounts: counted in TypeScript, decided by the policy (src/limits/limits.ts). */
import t from 'tap'
import { setAccountLimits, setKeyLimits } from '../../src/manage/index.js'
import { harness, type Harness } from '../helpers/authorizer.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, testServer } from '../helpers/server.js'
import { until } from '../helpers/until.js'

/** Sets limits and waits until the authorizer has heard of the change. */
async function limit (h: Harness, target: { keyId: string } | { userId: string }, limits: unknown): Promise<void> {
  h.events.length = 0
  if ('keyId' in target) await setKeyLimits(h.store, target.keyId, limits)
  else await setAccountLimits(h.store, target.userId, limits)
  const id = 'keyId' in target ? target.keyId : target.userId
  await until(() => h.events.some((e) => e.type === 'invalidated' && e.change.id === id))
}

t.test('a key\'s rate: admitted up to the limit in its window, 429 past it, released in the next window', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db)
  const alice = await h.account({ email: 'alice@example.com' })
  // 12:00:00.000 UTC: the start of a 60 s window.
  h.clock.now = Date.UTC(2030, 0, 15, 12, 0, 0)
  await limit(h, { keyId: alice.keyId }, { rate: { limit: 3, windowSeconds: 60 } })
  const hits = (): number => h.authorizer.cacheStats().decisions.hits
  const before = hits()
  const seen = []
  // The same request each time, within one second: the decision memo answers, and still counts each one.
  for (let i = 0; i < 3; i++) seen.push(await h.authorize({ key: alice.key }))
  t.same(seen.map((d) => d.status), [200, 200, 200])
  t.same(seen.map((d) => d.rateLimit), [0, 1, 2].map((i) => ({ policy: '"key:rate";q=3;w=60', state: `"key:rate";r=${2 - i};t=60` })))
  t.equal(hits() - before, 2, 'the second and third were answered by the memo')
  const exhausting = await h.authorize({ key: alice.key })
  t.match(exhausting, { status: 429, retryAfterSeconds: 60, rateLimit: { state: '"key:rate";r=0;t=60' } }, 'the same second: the memo\'s 200, made before the limit was used up, does not answer')
  t.equal(hits() - before, 2)
  t.equal((await h.authorize({ key: alice.key })).status, 429)
  t.equal(hits() - before, 3, 'the 429, made with the limit used up, does')
  h.clock.now += 45_000
  const refused = await h.authorize({ key: alice.key })
  t.match(refused, { allow: false, status: 429, code: 'RATE_LIMITED', retryAfterSeconds: 15, subject: alice.user.id })
  t.same(refused.reasons.map((r) => r.code), ['limit_key_rate'])
  t.same(refused.rateLimit, { policy: '"key:rate";q=3;w=60', state: '"key:rate";r=0;t=15' })
  t.equal((await h.authorize({ key: alice.key })).status, 429, 'refused requests do not count, but the window is used up')
  const explained = await h.authorizer.explain({ method: 'GET', path: '/api/v1/bot/list', headers: bearer(alice.key) })
  t.same(explained.input?.limits, [{ name: 'key:rate', scope: 'key', id: alice.keyId, kind: 'rate', limit: 3, windowSeconds: 60, exhausted: true, resetAt: Date.UTC(2030, 0, 15, 12, 1, 0) }], 'the policy input carries the limits, used up or not, and when their window ends')
  h.clock.now += 15_000
  t.equal((await h.authorize({ key: alice.key })).status, 200, 'the next window')
  const bob = await h.account({ email: 'bob@example.com' })
  t.equal((await h.authorize({ key: bob.key })).rateLimit, undefined, 'a key without limits has no RateLimit headers')
  await limit(h, { keyId: alice.keyId }, null)
  t.match(await h.authorize({ key: alice.key }), { status: 200, rateLimit: undefined }, 'limits cleared')
}))

t.test('a memo hit under limits: the miss\'s result field for field, with its own RateLimit values up to the window\'s end', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db)
  const alice = await h.account({ email: 'alice@example.com' })
  await limit(h, { keyId: alice.keyId }, { rate: { limit: 3, windowSeconds: 60 } })
  // 12:00:59.400 UTC: 0.6 s before a 60 s window ends.
  h.clock.now = Date.UTC(2030, 0, 15, 12, 0, 59, 400)
  const hits = (): number => h.authorizer.cacheStats().decisions.hits
  const missed = await h.authorize({ key: alice.key })
  h.clock.now += 500
  const before = hits()
  const hit = await h.authorize({ key: alice.key })
  t.equal(hits() - before, 1, 'answered by the memo')
  t.same(Object.keys(hit), Object.keys(missed), 'the same fields, in the same order')
  t.same({ ...hit, decisionId: '', rateLimit: undefined }, { ...missed, decisionId: '', rateLimit: undefined })
  t.not(hit.decisionId, missed.decisionId)
  t.same([missed.rateLimit, hit.rateLimit], [
    { policy: '"key:rate";q=3;w=60', state: '"key:rate";r=2;t=1' },
    { policy: '"key:rate";q=3;w=60', state: '"key:rate";r=1;t=1' }
  ], 'the hit counted; 0.1 s left reads as 1 s')
  h.clock.now += 100
  t.same((await h.authorize({ key: alice.key })).rateLimit, { policy: '"key:rate";q=3;w=60', state: '"key:rate";r=2;t=60' }, 'the next window, from its first instant')
}))

t.test('the policy input repeats from request to request until a limit is used up', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db)
  const alice = await h.account({ email: 'alice@example.com' })
  h.clock.now = Date.UTC(2030, 0, 15, 12, 0, 0)
  await limit(h, { keyId: alice.keyId }, { rate: { limit: 3, windowSeconds: 60 }, quota: { limit: 100, period: 'day' } })
  const inputs = []
  for (let i = 0; i < 3; i++) {
    // A new second each time: no memo entry, the policy is asked (or its decision cache).
    h.clock.now += 1000
    const explained = await h.authorizer.explain({ method: 'GET', path: '/api/v1/bot/list', headers: bearer(alice.key) })
    inputs.push(explained.input?.limits)
    t.equal((await h.authorize({ key: alice.key })).rateLimit?.state, `"key:rate";r=${2 - i};t=${59 - i}, "key:quota";r=${99 - i};t=${43_200 - 1 - i}`)
  }
  t.same(inputs[1], inputs[0], 'no counter in the input')
  t.same(inputs[2], inputs[0])
  t.match(inputs[0], [{ exhausted: false, resetAt: Date.UTC(2030, 0, 15, 12, 1, 0) }, { exhausted: false, resetAt: Date.UTC(2030, 0, 16) }])
  h.clock.now += 1000
  const used = await h.authorizer.explain({ method: 'GET', path: '/api/v1/bot/list', headers: bearer(alice.key) })
  t.match(used.input?.limits, [{ exhausted: true }, { exhausted: false }])
  t.equal(used.result.status, 429)
}))

t.test('an account\'s quota: every key of the account counts, exhausted and reset at the month\'s end', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db)
  const alice = await h.account({ email: 'alice@example.com' })
  const second = await h.account({ email: 'alice.second@example.com' })
  h.clock.now = Date.UTC(2030, 0, 31, 23, 59, 58)
  await limit(h, { userId: alice.user.id }, { quota: { limit: 2, period: 'month' } })
  t.equal((await h.authorize({ key: alice.key })).status, 200)
  t.equal((await h.authorize({ key: alice.key, path: '/api/v1/bot/fetch' })).status, 200)
  const refused = await h.authorize({ key: alice.key })
  t.match(refused, { status: 429, retryAfterSeconds: 2 })
  t.same(refused.reasons.map((r) => r.code), ['limit_account_quota'])
  t.equal((await h.authorize({ key: second.key })).status, 200, 'another account is not concerned')
  h.clock.now += 2_000
  t.match(await h.authorize({ key: alice.key }), { status: 200, rateLimit: { state: '"account:quota";r=1;t=2419200' } }, 'February: a new quota (28 days to go)')
}))

t.test('limits are checked where they are set; a parent caps its children through the partner API', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })
  const admin = await server.account({ role: 'admin' })
  const post = async (url: string, payload: unknown, headers: Record<string, string>): Promise<{ statusCode: number; json: () => any }> =>
    await server.app.inject({ method: 'POST', url, payload: payload as object, headers })

  t.equal((await post(`/admin/v1/user/${parent.id}/update`, { rateLimits: { rate: { limit: 10, windowSeconds: 1 }, quota: { limit: 1000, period: 'month' } } }, admin.headers)).statusCode, 200)
  t.same((await store.findUserById(parent.id))?.limits, { rate: { limit: 10, windowSeconds: 1 }, quota: { limit: 1000, period: 'month' } })

  const capped = `/api/v1/partner/user/${child.id}/update`
  for (const [limits, problem] of [
    [{ rate: { limit: 11, windowSeconds: 1 }, quota: { limit: 10, period: 'month' } }, /rate exceeds the parent's/],
    [{ rate: { limit: 600, windowSeconds: 60 }, quota: { limit: 1001, period: 'month' } }, /quota exceeds the parent's/],
    [{ quota: { limit: 10, period: 'month' } }, /a rate is required/],
    [{ rate: { limit: 1, windowSeconds: 0 } }, /windowSeconds/],
    [{ rate: { limit: 1, windowSeconds: 1 }, burst: 3 }, /./]
  ] as const) {
    const res = await post(capped, { rateLimits: limits }, parent.headers)
    t.equal(res.statusCode, 400, JSON.stringify(limits))
    t.match(res.json().message, problem)
  }
  t.same((await store.findUserById(child.id))?.limits, null, 'nothing refused was written')
  const within = { rate: { limit: 5, windowSeconds: 1 }, quota: { limit: 1000, period: 'month' } }
  t.equal((await post(capped, { rateLimits: within }, parent.headers)).statusCode, 200)
  t.same((await store.findUserById(child.id))?.limits, within)
  t.equal((await post(capped, { limits: { tokens: 10 } }, parent.headers)).statusCode, 200, '@chatbotkit/sdk\'s own `limits` is still accepted and ignored')
  t.same((await store.findUserById(child.id))?.limits, within)
  t.equal((await post(`/api/v1/partner/user/${child.id}/update`, { rateLimits: null }, child.headers)).statusCode, 404, 'a child cannot lift its own cap')

  // The child's own key stays within its account's limits.
  t.equal((await post(`/api/v1/token/${child.keyId}/update`, { rateLimits: { rate: { limit: 6, windowSeconds: 1 }, quota: { limit: 10, period: 'day' } } }, child.headers)).statusCode, 400)
  t.equal((await post(`/api/v1/token/${child.keyId}/update`, { rateLimits: { rate: { limit: 0, windowSeconds: 1 }, quota: { limit: 10, period: 'day' } } }, child.headers)).statusCode, 200)
  t.same((await store.findKeyById(child.keyId))?.limits, { rate: { limit: 0, windowSeconds: 1 }, quota: { limit: 10, period: 'day' } })

  // The views show the limits set (asked by the admin, who has none: the parent's 10 per second are for the requests below).
  const fetched = await server.app.inject({ url: `/admin/v1/user/${child.id}/fetch`, headers: admin.headers })
  t.same(fetched.json().rateLimits, within, 'an account\'s limits')
  const childKeys = await server.app.inject({ url: `/admin/v1/user/${child.id}/token/list`, headers: admin.headers })
  t.same(childKeys.json().items.map((k: { rateLimits: unknown }) => k.rateLimits), [{ rate: { limit: 0, windowSeconds: 1 }, quota: { limit: 10, period: 'day' } }], 'the key list shows each key\'s limits')
  const parentKeys = await server.app.inject({ url: `/admin/v1/user/${parent.id}/token/list`, headers: admin.headers })
  t.same(parentKeys.json().items.map((k: { rateLimits: unknown }) => k.rateLimits), [null], 'a key without limits: null')

  // Limit 0: every request of that key is a 429, through each adapter, with the headers.
  server.authorizer.invalidate('all')
  const fa = await server.app.inject({ url: '/v1/forward-auth', headers: { ...child.headers, 'x-original-uri': '/api/v1/bot/list' } })
  t.equal(fa.statusCode, 429)
  t.same(fa.json(), { message: 'Too many requests', code: 'RATE_LIMITED' })
  t.match(fa.headers, { 'retry-after': /^\d+$/, 'ratelimit-policy': '"key:rate";q=0;w=1, "key:quota";q=10;w=86400, "account:rate";q=5;w=1, "account:quota";q=1000;w=2592000', ratelimit: /^"key:rate";r=0;t=1, / })
  const plugin = await server.app.inject({ url: '/api/v1/token/list', headers: child.headers })
  t.equal(plugin.statusCode, 429, 'the Fastify plugin')
  t.match(plugin.headers, { 'retry-after': /^\d+$/, 'ratelimit-policy': /"key:rate";q=0;w=1/ })
  const decided = await server.app.inject({ method: 'POST', url: '/v1/authorize', payload: { method: 'GET', path: '/api/v1/bot/list', headers: child.headers } })
  t.match(decided.json(), { status: 429, code: 'RATE_LIMITED', retryAfterSeconds: Number, rateLimit: { policy: /"key:rate";q=0;w=1/, state: /"key:rate";r=0/ } })

  // The parent (10/s) is allowed, with its headers, through forward-auth and the plugin.
  const ok = await server.app.inject({ url: '/v1/forward-auth', headers: { ...parent.headers, 'x-original-uri': '/api/v1/bot/list' } })
  t.equal(ok.statusCode, 200)
  t.match(ok.headers, { 'ratelimit-policy': '"account:rate";q=10;w=1, "account:quota";q=1000;w=2592000', ratelimit: /^"account:rate";r=\d+;t=1, "account:quota";r=\d+;t=\d+$/ })
  const listed = await server.app.inject({ url: '/api/v1/token/list', headers: parent.headers })
  t.equal(listed.statusCode, 200)
  t.match(listed.headers, { 'ratelimit-policy': /"account:rate";q=10;w=1/ })
}))
