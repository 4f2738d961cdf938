import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { auditServer } from '../helpers/audit.js'
import { bearer } from '../helpers/server.js'

// The decision API believes the client address it is told only from a caller with its token.
const CALLER_TOKEN = 'audit-caller-0123456789abcdefghijklmnopqrstuvwxyz'

t.test('decision log through the server', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store, {}, { app: { decisionApiToken: CALLER_TOKEN } })
  const { app } = server
  const admin = await server.account({ role: 'admin' })
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })
  const stranger = await server.account()

  const list = async (query: string, headers: Record<string, string> = admin.headers): Promise<{ statusCode: number; json: () => any }> => {
    await server.audit.flush()
    return await app.inject({ url: `/admin/v1/audit/list?${query}`, headers })
  }

  await t.test('an impersonated forward-auth decision is found by its X-Keygate-Decision-Id, actor and subject right', async (t) => {
    const res = await app.inject({
      url: '/v1/forward-auth',
      headers: { ...parent.headers, 'x-runas-user-id': child.id, 'x-original-uri': '/api/v1/dataset/list', 'x-forwarded-for': '203.0.113.9' }
    })
    t.equal(res.statusCode, 200)
    const decisionId = res.headers['x-keygate-decision-id'] as string
    const found = await list(`decisionId=${decisionId}`)
    t.equal(found.statusCode, 200)
    const items = found.json().items
    // With it, the first credential this server saw over plain HTTP (inject is not TLS).
    t.same(items.map((e: { kind: string; event?: string }) => e.event ?? e.kind).sort(), ['credential_over_plain_http', 'decision'])
    const entry = items.find((e: { kind: string }) => e.kind === 'decision')
    t.match(entry, {
      kind: 'decision',
      decision_id: decisionId,
      path: 'keygate/authz/decision',
      subject: child.id,
      actor: parent.id,
      impersonated: true,
      key_id: parent.keyId,
      credential_type: 'secret_key',
      status: 200,
      code: 'OK',
      result: { allow: true, subject: child.id, actor: parent.id, action: { resource: 'dataset', verb: 'list', class: 'read' } },
      bundles: { keygate: { revision: String } },
      metrics: { timer_keygate_authorize_ns: Number },
      request: { method: 'GET', path: '/api/v1/dataset/list' }
    })
    t.match(entry.key_prefix, /^sk-[0-9A-Za-z]{6}$/)
    t.match(entry.input, { version: 2, credential: { type: 'secret_key', id: parent.keyId }, runAs: [{ via: 'user_id', account: { id: child.id } }] })
    t.equal(entry.client_address, '127.0.0.1', 'without KEYGATE_TRUST_PROXY the peer, not X-Forwarded-For')
    t.ok(Number.isFinite(Date.parse(entry.timestamp)))

    // Found by either identity.
    const byChild = (await list(`userId=${child.id}&kind=decision`)).json().items
    t.ok(byChild.some((e: { decision_id: string }) => e.decision_id === decisionId), 'by the subject')
    const byParent = (await list(`userId=${parent.id}&kind=decision`)).json().items
    t.ok(byParent.some((e: { decision_id: string }) => e.decision_id === decisionId), 'by the actor')
    t.equal(await server.metric('keygate_impersonations_total', { outcome: 'allowed' }), 1)
  })

  await t.test('filters: keyId, status, time range, paging', async (t) => {
    for (let i = 0; i < 3; i++) {
      await app.inject({ method: 'POST', url: '/v1/authorize', headers: bearer(CALLER_TOKEN), payload: { method: 'GET', path: '/api/v1/bot/list', headers: stranger.headers } })
    }
    await app.inject({ method: 'POST', url: '/v1/authorize', headers: bearer(CALLER_TOKEN), payload: { method: 'POST', path: '/admin/v1/user/create', headers: stranger.headers, client: { address: '198.51.100.7' } } })
    const byKey = (await list(`keyId=${stranger.keyId}&kind=decision`)).json().items
    t.equal(byKey.length, 4)
    const denied = (await list(`keyId=${stranger.keyId}&status=403`)).json().items
    t.equal(denied.length, 1)
    t.match(denied[0], { status: 403, code: 'NOT_AUTHORIZED', reason_codes: ['admin_role_required'], client_address: '198.51.100.7' })
    t.equal((await list(`keyId=${stranger.keyId}&from=${Date.now() + 60_000}`)).json().items.length, 0)
    t.equal((await list(`keyId=${stranger.keyId}&kind=decision&to=${new Date(Date.now() + 60_000).toISOString()}`)).json().items.length, 4)

    const first = (await list(`keyId=${stranger.keyId}&kind=decision&take=3`)).json()
    t.equal(first.items.length, 3)
    t.type(first.cursor, 'string')
    const second = (await list(`keyId=${stranger.keyId}&kind=decision&take=3&cursor=${first.cursor}`)).json()
    t.equal(second.items.length, 1)
    t.notOk('cursor' in second)
    const ids = [...first.items, ...second.items].map((e: { id: string }) => e.id)
    t.equal(new Set(ids).size, 4, 'no entry twice across pages')
    const times = [...first.items, ...second.items].map((e: { timestamp: string }) => Date.parse(e.timestamp))
    t.same(times, [...times].sort((a, b) => b - a), 'newest first')

    t.equal((await list('cursor=bogus!')).statusCode, 400)
    t.equal((await list('from=yesterday')).statusCode, 400)
    t.equal((await list('status=418')).statusCode, 400)
    t.equal((await list('unknown=1')).statusCode, 400)
  })

  await t.test('admin only, by the policy', async (t) => {
    t.equal((await list('take=1', parent.headers)).statusCode, 403)
    t.equal((await list('take=1', {})).statusCode, 401)
    const scoped = await server.account({ role: 'admin', scopes: ['read'] })
    t.equal((await list('take=1', scoped.headers)).statusCode, 403, 'an admin key with narrower scopes')
    t.equal((await app.inject({ url: `/admin/v1/key/${parent.keyId}/usage`, headers: parent.headers })).statusCode, 403)
  })

  await t.test('a revoked key presented again: exactly one security event per presentation, naming the key id', async (t) => {
    const owner = await server.account()
    t.equal((await app.inject({ method: 'POST', url: `/api/v1/token/${owner.keyId}/delete`, headers: owner.headers })).statusCode, 200)
    const res = await app.inject({ url: '/v1/forward-auth', headers: { ...owner.headers, 'x-original-uri': '/api/v1/bot/list' } })
    t.equal(res.statusCode, 401)
    const revokedEvents = async (): Promise<any[]> => (await list(`kind=security&keyId=${owner.keyId}`)).json().items
      .filter((e: { event: string }) => e.event === 'revoked_key_presented')
    const events = await revokedEvents()
    t.equal(events.length, 1)
    t.match(events[0], {
      kind: 'security',
      event: 'revoked_key_presented',
      key_id: owner.keyId,
      subject: owner.id,
      count: 1,
      status: 401,
      group: { key_id: owner.keyId }
    })
    t.notOk(JSON.stringify(events[0]).includes(owner.token), 'never the key')
    // The decision that raised it, and the event, share the decision id.
    const both = (await list(`decisionId=${events[0].decision_id}`)).json().items
    t.same(both.map((e: { kind: string }) => e.kind).sort(), ['decision', 'security'])

    await app.inject({ url: '/v1/forward-auth', headers: { ...owner.headers, 'x-original-uri': '/api/v1/bot/list' } })
    t.equal((await revokedEvents()).length, 2, 'one more per presentation')
    t.equal(await server.metric('keygate_security_events_total', { event: 'revoked_key_presented' }), 2)
  })

  await t.test('an expired (rolled) key presented again', async (t) => {
    const owner = await server.account()
    const rolled = await app.inject({ method: 'POST', url: `/api/v1/token/${owner.keyId}/roll`, headers: owner.headers, payload: {} })
    t.equal(rolled.statusCode, 200)
    await app.inject({ url: '/v1/forward-auth', headers: { ...owner.headers, 'x-original-uri': '/api/v1/bot/list' } })
    const events = (await list(`kind=security&keyId=${owner.keyId}`)).json().items
      .filter((e: { event: string }) => e.event !== 'credential_over_plain_http')
    t.match(events, [{ event: 'expired_key_presented', key_id: owner.keyId }])
    t.equal(events.length, 1)
  })

  await t.test('refused impersonation: a burst is an event; every refusal is in the log', async (t) => {
    for (let i = 0; i < 5; i++) {
      const res = await app.inject({ url: '/v1/forward-auth', headers: { ...stranger.headers, 'x-runas-user-id': child.id, 'x-original-uri': '/api/v1/bot/list' } })
      t.equal(res.statusCode, 403)
    }
    const events = (await list(`kind=security&userId=${stranger.id}`)).json().items
      .filter((e: { event: string }) => e.event === 'impersonation_refused_burst')
    t.same(events.map((e: { group: Record<string, string>; count: number }) => [e.group, e.count]).sort((x: any, y: any) => Object.keys(x[0])[0] < Object.keys(y[0])[0] ? -1 : 1),
      [[{ actor: stranger.id }, 5], [{ client_address: '127.0.0.1' }, 5]], 'once per window for the actor and for the client')
    const refusals = (await list(`userId=${stranger.id}&kind=decision&status=403`)).json().items
      .filter((e: { reason_codes: string[] }) => e.reason_codes.includes('impersonation_not_parent'))
    t.equal(refusals.length, 5)
    t.ok(await server.metric('keygate_impersonations_total', { outcome: 'refused' }) >= 5)
  })

  await t.test('bursts of 401s from one client address', async (t) => {
    for (let i = 0; i < 20; i++) {
      await app.inject({ method: 'POST', url: '/v1/authorize', headers: bearer(CALLER_TOKEN), payload: { method: 'GET', path: '/api/v1/bot/list', headers: {}, client: { address: '192.0.2.44' } } })
    }
    const events = (await list('kind=security&take=100')).json().items
      .filter((e: { event: string; group: Record<string, string> }) => e.event === 'unauthenticated_burst' && e.group.client_address === '192.0.2.44')
    t.equal(events.length, 1)
    t.match(events[0], { count: 20, window_seconds: 60, client_address: '192.0.2.44' })
  })

  await t.test('a credential over plain HTTP is recorded once per key per period', async (t) => {
    for (let i = 0; i < 3; i++) {
      await app.inject({ method: 'POST', url: '/v1/authorize', headers: bearer(CALLER_TOKEN), payload: { method: 'GET', path: '/api/v1/bot/list', headers: child.headers, scheme: 'http' } })
    }
    await app.inject({ method: 'POST', url: '/v1/authorize', headers: bearer(CALLER_TOKEN), payload: { method: 'GET', path: '/api/v1/bot/list', headers: child.headers, scheme: 'https' } })
    const events = (await list(`kind=security&keyId=${child.keyId}`)).json().items
    t.match(events, [{ event: 'credential_over_plain_http', key_id: child.keyId }])
    t.equal(events.length, 1)
  })

  await t.test('key usage: lastUsedAt and counts in token/list, daily counts for the operator', async (t) => {
    const owner = await server.account()
    for (let i = 0; i < 3; i++) await app.inject({ url: '/v1/forward-auth', headers: { ...owner.headers, 'x-original-uri': '/api/v1/bot/list' } })
    await app.inject({ url: '/v1/forward-auth', headers: { ...owner.headers, 'x-original-uri': '/admin/v1/user/create' } })
    await server.audit.flush()
    const listed = (await app.inject({ url: '/api/v1/token/list', headers: owner.headers })).json()
    await server.audit.flush()
    const key = listed.items.find((k: { id: string }) => k.id === owner.keyId)
    t.equal(key.requestCount, 4, 'three allowed, one refused (403): each authenticated')
    t.ok(key.lastUsedAt > Date.now() - 60_000)

    const usage = await app.inject({ url: `/admin/v1/key/${owner.keyId}/usage?days=7`, headers: admin.headers })
    t.equal(usage.statusCode, 200)
    const body = usage.json()
    t.match(body, { id: owner.keyId, requestCount: 5, lastUsedAt: Number })
    t.same(body.days.map((d: { day: string; requests: number; denied: number }) => [d.day, d.requests, d.denied]),
      [[new Date().toISOString().slice(0, 10), 5, 1]], 'the token/list call counts too')
    t.equal((await app.inject({ url: '/admin/v1/key/key_00000000000000000000/usage', headers: admin.headers })).statusCode, 404)
  })

  await t.test('the stdout sink is off unless configured; nothing waited or failed', async (t) => {
    t.same(server.stdout, [])
    t.same(server.errors, [])
    t.equal(await server.metric('keygate_decision_log_waiting'), 0)
  })
}))

t.test('explain', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store)
  const { app } = server
  const admin = await server.account({ role: 'admin' })
  const parent = await server.account()
  const other = await server.account()
  const child = await server.account({ parentId: other.id })

  const explain = async (headers: Record<string, string>, body: object): Promise<{ statusCode: number; json: () => any; body: string }> =>
    await app.inject({ method: 'POST', url: '/v1/authorize?explain=true', headers, payload: body })

  await t.test('names the rule that refused an impersonation', async (t) => {
    const res = await explain(admin.headers, { method: 'GET', path: '/api/v1/bot/list', headers: { ...parent.headers, 'x-runas-user-id': child.id } })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.match(body, { allow: false, status: 403, code: 'NOT_AUTHORIZED', reasons: [{ code: 'impersonation_not_parent' }] })
    t.match(body.explanation.rules, [{
      code: 'impersonation_not_parent',
      rule: 'impersonation_reasons',
      location: /^policies\/keygate\/authz\/authz\.rego:\d+$/
    }])
    t.match(body.explanation.input, { credential: { id: parent.keyId }, runAs: [{ account: { id: child.id, parentId: other.id } }] })
    t.notOk(res.body.includes(parent.token), 'the evaluated key is not in the answer')
    t.notOk(res.body.includes(admin.token))
  })

  await t.test('a 401 names its rule too', async (t) => {
    const body = (await explain(admin.headers, { method: 'GET', path: '/api/v1/bot/list', headers: {} })).json()
    t.match(body.explanation.rules, [{ code: 'credential_missing', rule: 'authn_reasons' }])
  })

  await t.test('only for an admin key in the call\'s own Authorization header', async (t) => {
    const asParent = await explain(parent.headers, { method: 'GET', path: '/api/v1/bot/list', headers: admin.headers })
    t.equal(asParent.statusCode, 403)
    t.equal(asParent.body, '{"message":"Not authorized","code":"NOT_AUTHORIZED"}')
    const anonymous = await explain({}, { method: 'GET', path: '/api/v1/bot/list', headers: admin.headers })
    t.equal(anonymous.statusCode, 401, 'an admin key inside `headers` does not count')
    const plain = await app.inject({ method: 'POST', url: '/v1/authorize', payload: { method: 'GET', path: '/api/v1/bot/list', headers: parent.headers } })
    t.notOk('explanation' in plain.json())
    t.notOk('reasons' in plain.json())
  })

  await t.test('an explained request is not a decision of record; the explain call itself is', async (t) => {
    await server.audit.flush()
    const res = await app.inject({ url: `/admin/v1/audit/list?userId=${parent.id}&take=100`, headers: admin.headers })
    t.same(res.json().items.filter((e: { reason_codes: string[] }) => e.reason_codes.includes('impersonation_not_parent')), [],
      'the explained impersonation left no entry')
    const calls = (await app.inject({ url: `/admin/v1/audit/list?keyId=${parent.keyId}&status=403&kind=decision`, headers: admin.headers })).json().items
    t.match(calls, [{ request: { path: '/admin/v1/decision/explain' }, reason_codes: ['admin_role_required'] }])
  })
}))

t.test('the management API records its own decisions with the client address', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store)
  const admin = await server.account({ role: 'admin' })
  const res = await server.app.inject({ url: '/api/v1/token/list', headers: bearer(admin.token), remoteAddress: '10.1.2.3' })
  t.equal(res.statusCode, 200)
  await server.audit.flush()
  const items = (await server.app.inject({ url: `/admin/v1/audit/list?keyId=${admin.keyId}&take=100`, headers: admin.headers })).json().items
  t.match(items.find((e: { request: { path: string } }) => e.request.path === '/api/v1/token/list'), { client_address: '10.1.2.3', status: 200 })
}))
