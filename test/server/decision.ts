import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, testServer } from '../helpers/server.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('decision API', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const withReasons = await testServer(t, store, { decisionReasons: true })
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })
  const decide = async (payload: unknown, app = server.app) =>
    await app.inject({ method: 'POST', url: '/v1/authorize', payload: payload as object })

  await t.test('an allowed request: the whole decision, without reasons', async (t) => {
    const res = await decide({ method: 'post', path: '/api/v1/bot/create?x=1', headers: parent.headers, scheme: 'https' })
    t.equal(res.statusCode, 200)
    const decision = res.json()
    t.match(decision, {
      allow: true,
      status: 200,
      code: 'OK',
      subject: parent.id,
      actor: null,
      credential: { type: 'secret_key', id: parent.keyId, prefix: parent.token.slice(0, 9) },
      action: { resource: 'bot', verb: 'create', class: 'write' },
      decisionId: UUID,
      policyRevision: server.authorizer.policy.revision
    })
    t.notOk('reasons' in decision, 'reasons stay in the log unless the operator asks for them')
    t.equal(res.headers['cache-control'], 'no-store')
  })

  await t.test('denials are decisions too: HTTP 200, the status inside', async (t) => {
    const none = (await decide({ method: 'GET', path: '/api/v1/bot/list', headers: {} })).json()
    t.match(none, { allow: false, status: 401, code: 'NOT_AUTHENTICATED', subject: null, credential: { type: 'none' } })
    const twice = (await decide({ method: 'GET', path: '/api/v1/bot/list', headers: { Authorization: [parent.headers.authorization, parent.headers.authorization] } })).json()
    t.match(twice, { status: 401, credential: { type: 'malformed' } }, 'repeated headers are seen as such')
    const refused = (await decide({ method: 'GET', path: '/api/v1/bot/list', headers: { ...parent.headers, 'X-RunAs-User-ID': 'usr_00000000000000000000' } })).json()
    t.match(refused, { allow: false, status: 403, code: 'NOT_AUTHORIZED' })
    t.notOk('reasons' in refused)
  })

  await t.test('impersonation: subject and actor', async (t) => {
    const res = await decide({ method: 'GET', path: '/api/v1/dataset/list', headers: { ...parent.headers, 'x-runas-child-user-email': child.email } })
    t.match(res.json(), { allow: true, subject: child.id, actor: parent.id })
  })

  await t.test('with KEYGATE_DECISION_REASONS the reasons are included', async (t) => {
    const refused = (await decide({ method: 'GET', path: '/api/v1/bot/list', headers: { ...parent.headers, 'x-runas-user-id': 'usr_00000000000000000000' } }, withReasons.app)).json()
    t.match(refused, { status: 403, reasons: [{ code: 'impersonation_unknown_target' }] })
    const allowed = (await decide({ method: 'GET', path: '/api/v1/bot/list', headers: bearer(parent.token) }, withReasons.app)).json()
    t.same(allowed.reasons, [])
  })

  await t.test('400 for a malformed request document', async (t) => {
    for (const payload of [
      {},
      { path: '/api/v1/bot/list', headers: {} },
      { method: 'GET', headers: {} },
      { method: 'GET', path: '/api/v1/bot/list' },
      { method: 'GET', path: '/api/v1/bot/list', headers: {}, body: 'x' },
      { method: 'GET', path: '/api/v1/bot/list', headers: 'Bearer x' },
      { method: 'GET', path: '/api/v1/bot/list', headers: { authorization: 5 } },
      { method: 'GET', path: '/api/v1/bot/list', headers: { authorization: [5] } },
      { method: 'GET', path: '/api/v1/bot/list', headers: {}, scheme: 'ftp' },
      { method: 'GET /x', path: '/api/v1/bot/list', headers: {} },
      { method: 'GET', path: '', headers: {} },
      { method: 'GET', path: `/${'a'.repeat(8192)}`, headers: {} },
      [{ method: 'GET', path: '/api/v1/bot/list', headers: {} }]
    ]) {
      const res = await decide(payload)
      t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80))
      t.equal(res.json().code, 'INVALID_REQUEST')
    }
    const headless = await decide({ method: 'GET', path: '/api/v1/bot/list' })
    t.match(headless.json().message, /headers/, 'a document without headers is refused for that, not decided as unauthenticated')
  })
}))
