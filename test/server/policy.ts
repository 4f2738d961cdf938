/**
 * The policy tools over HTTP: `POST /api/v1/token/check` (decide as one of
 * the caller's credentials) and `POST /admin/v1/policy/replay` (recorded
 * decisions against a bundle the OPA CLI built), on a real store with the
 * decision log in it.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { auditServer, type AuditServer } from '../helpers/audit.js'
import { builtBundle, forbidBotDeleteBundle } from '../helpers/bundles.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer } from '../helpers/server.js'

const CHECK = '/api/v1/token/check'
const REPLAY = '/admin/v1/policy/replay'

async function check (server: AuditServer, headers: Record<string, string>, payload: object): Promise<{ statusCode: number; body: string; json: () => any }> {
  return await server.app.inject({ method: 'POST', url: CHECK, headers, payload })
}

/** The line the location names, from the author's source. */
function lineAt (location: string): string {
  const [file, line] = location.split(':') as [string, string]
  return readFileSync(file, 'utf8').split('\n')[Number(line) - 1] ?? ''
}

t.test('token/check decides as the caller\'s credential', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store, { sinks: [{ type: 'postgres' }] })
  const admin = await server.account({ role: 'admin' })
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })
  const stranger = await server.account()

  await t.test('own key, by id: the decision without the secret, and no reasons for a non-admin', async (t) => {
    const res = await check(server, parent.headers, { keyId: parent.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list' }, { method: 'POST', path: '/admin/v1/user/create' }] })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.match(body, { credential: { type: 'secret_key', id: parent.keyId, owner: parent.id }, reasonsShown: false })
    t.match(body.results, [
      { method: 'GET', path: '/api/v1/bot/list', allow: true, status: 200, subject: parent.id, actor: null, action: { resource: 'bot', verb: 'list', class: 'read' } },
      { allow: false, status: 403, code: 'NOT_AUTHORIZED' }
    ])
    t.notOk('reasons' in body.results[1], 'reasons are for those the policy lets explain')
    t.notOk(res.body.includes(parent.token), 'no secret in the answer')
  })

  await t.test('as the child, through the run-as id or e-mail', async (t) => {
    const res = await check(server, parent.headers, {
      keyId: parent.keyId,
      checks: [{ method: 'POST', path: '/api/v1/bot/create', runAsUserId: child.id }, { method: 'GET', path: '/api/v1/bot/list', runAsEmail: child.email }]
    })
    t.match(res.json().results, [{ allow: true, subject: child.id, actor: parent.id, runAsUserId: child.id }, { allow: true, subject: child.id, actor: parent.id }])
  })

  await t.test('a child\'s key, by its parent', async (t) => {
    const res = await check(server, parent.headers, { keyId: child.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list' }] })
    t.match(res.json(), { credential: { owner: child.id }, results: [{ allow: true, subject: child.id }] })
  })

  await t.test('anything else is the same 403: a stranger\'s key, a parent\'s, an unknown one', async (t) => {
    const refused = [
      await check(server, parent.headers, { keyId: stranger.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list' }] }),
      await check(server, child.headers, { keyId: parent.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list' }] }),
      await check(server, parent.headers, { keyId: 'key_00000000000000000000', checks: [{ method: 'GET', path: '/api/v1/bot/list' }] })
    ]
    for (const res of refused) t.equal(res.statusCode, 403)
    t.same(new Set(refused.map((r) => r.body)).size, 1, 'byte-identical bodies')
  })

  await t.test('an admin tests any key and sees each reason\'s rule in the author\'s source', async (t) => {
    await store.addRestriction(parent.id, 'impersonation')
    t.teardown(async () => { await store.removeRestriction(parent.id, 'impersonation') })
    const res = await check(server, admin.headers, { keyId: parent.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list', runAsUserId: child.id }] })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.match(body, { reasonsShown: true, sources: 'author', results: [{ allow: false, status: 403 }] })
    const reason = body.results[0].reasons.find((r: { code: string }) => r.code === 'impersonation_restricted')
    t.match(reason, { rule: 'impersonation_reasons', location: /^policies\/keygate\/authz\/authz\.rego:\d+$/ })
    t.match(lineAt(reason.location), '"impersonation_restricted"', 'the location is the line that adds the reason')
  })

  await t.test('session tokens: the caller\'s, its child\'s; not a stranger\'s or a forged one', async (t) => {
    const mint = async (headers: Record<string, string>, config?: object): Promise<string> =>
      (await server.app.inject({ method: 'POST', url: '/api/v1/session/create', headers, payload: config === undefined ? {} : { config } })).json().token
    const own = await mint(parent.headers, { allowedRoutes: ['bot/**'] })
    const res = await check(server, parent.headers, {
      sessionToken: own, checks: [{ method: 'GET', path: '/api/v1/bot/list' }, { method: 'GET', path: '/api/v1/dataset/list' }, { method: 'POST', path: '/api/v1/token/create' }]
    })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { credential: { type: 'session', owner: parent.id }, results: [{ allow: true }, { allow: false, status: 403 }, { allow: false, status: 403 }] })
    t.notOk(res.body.includes(own), 'the token is not echoed')
    const childToken = await mint(child.headers)
    t.equal((await check(server, parent.headers, { sessionToken: childToken, checks: [{ method: 'GET', path: '/api/v1/bot/list' }] })).statusCode, 200)
    const strangers = await mint(stranger.headers)
    t.equal((await check(server, parent.headers, { sessionToken: strangers, checks: [{ method: 'GET', path: '/api/v1/bot/list' }] })).statusCode, 403)
    t.equal((await check(server, parent.headers, { sessionToken: 'a.b.c', checks: [{ method: 'GET', path: '/api/v1/bot/list' }] })).statusCode, 403)
    const byAdmin = await check(server, admin.headers, { sessionToken: own, checks: [{ method: 'GET', path: '/api/v1/dataset/list' }] })
    t.match(byAdmin.json().results[0].reasons, [{ code: 'route_not_allowed', rule: 'denials' }])
    t.equal((await check(server, bearer(own), { keyId: parent.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list' }] })).statusCode, 403,
      'a session token may not check (a management action)')
  })

  await t.test('not a decision of record: nothing is logged for the checked credential', async (t) => {
    const quiet = await server.account()
    await check(server, admin.headers, { keyId: quiet.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list' }] })
    await server.audit.flush()
    const logged = await server.app.inject({ url: `/admin/v1/audit/list?userId=${quiet.id}`, headers: admin.headers })
    t.same(logged.json().items, [])
    t.equal((await store.findKeyById(quiet.keyId))?.lastUsedAt ?? null, null, 'the key is not marked used')
  })

  await t.test('bad requests are 400s with the schema\'s message', async (t) => {
    for (const payload of [
      { checks: [{ method: 'GET', path: '/api/v1/bot/list' }] },
      { keyId: parent.keyId, sessionToken: 'a.b.c', checks: [{ method: 'GET', path: '/api/v1/bot/list' }] },
      { keyId: parent.keyId, checks: [] },
      { keyId: parent.keyId, checks: Array.from({ length: 401 }, () => ({ method: 'GET', path: '/api/v1/bot/list' })) },
      { keyId: parent.keyId, checks: [{ method: 'GET', path: 'api/v1/bot/list' }] },
      { keyId: parent.keyId, checks: [{ method: 'GET', path: '/api/v1/bot/list', runAsUserId: ' x' }] },
      { keyId: 'sk-nope', checks: [{ method: 'GET', path: '/api/v1/bot/list' }] }
    ]) {
      const res = await check(server, parent.headers, payload)
      t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80))
      t.equal(res.json().code, 'INVALID_REQUEST')
    }
  })
}))

t.test('policy/replay lists exactly the recorded decisions a bundle changes', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store, { sinks: [{ type: 'postgres' }] })
  const admin = await server.account({ role: 'admin' })
  const user = await server.account()
  const readOnly = await server.account()
  await store.addRestriction(readOnly.id, 'read-only')
  const decide = async (headers: Record<string, string>, method: string, path: string): Promise<string> =>
    (await server.authorizer.authorize({ method, path, headers })).decisionId
  const deleted = [await decide(user.headers, 'POST', '/api/v1/bot/b1/delete'), await decide(user.headers, 'POST', '/v1/bot/b2/delete')]
  const refusedOtherwise = await decide(readOnly.headers, 'POST', '/api/v1/bot/b3/delete')
  await decide(user.headers, 'GET', '/api/v1/bot/list')
  await decide(user.headers, 'POST', '/api/v1/bot/b1/update')
  await decide({}, 'POST', '/api/v1/bot/b1/delete')
  await decide(user.headers, 'POST', '/api/v1/dataset/d1/delete')
  await server.audit.flush()
  const bundle = readFileSync(forbidBotDeleteBundle(t))
  const replay = async (body: Buffer | string, query = '', headers: Record<string, string> = admin.headers) => await server.app.inject({
    method: 'POST', url: `${REPLAY}${query}`, headers: { ...headers, 'content-type': 'application/gzip' }, payload: body
  })

  await t.test('the bundle that forbids bot/*/delete', async (t) => {
    const res = await replay(bundle)
    t.equal(res.statusCode, 200)
    const report = res.json()
    t.match(report, { revision: 'forbid-bot-delete', read: 7, replayed: 7, faults: 0 })
    t.same(report.changes.map((c: { decisionId: string }) => c.decisionId).sort(), [...deleted, refusedOtherwise].sort(), 'exactly the affected decisions')
    const allowed = report.changes.find((c: { decisionId: string }) => c.decisionId === deleted[0])
    t.match(allowed, {
      method: 'POST',
      path: '/api/v1/bot/b1/delete',
      route: 'POST /api/v1/bot/{botId}/delete',
      subject: user.id,
      recorded: { allow: true, status: 200, reasons: [] },
      replayed: { allow: false, status: 403, code: 'NOT_AUTHORIZED', reasons: ['bot_delete_forbidden'] },
      changed: ['allow', 'status', 'code', 'reasons']
    })
    const readOnlyChange = report.changes.find((c: { decisionId: string }) => c.decisionId === refusedOtherwise)
    t.same(readOnlyChange.changed, ['reasons'], 'still 403, for one more reason')
    t.same(report.byRoute, [{ route: 'POST /api/v1/bot/{botId}/delete', changed: 3, toDeny: 2, toAllow: 0 }])
    t.same(report.byReason, [{ reason: 'bot_delete_forbidden', added: 3, removed: 0 }])
  })

  await t.test('the deciding bundle changes nothing; limit and since bound what is read', async (t) => {
    t.match((await replay(builtBundle())).json(), { read: 7, changes: [] })
    t.match((await replay(bundle, '?limit=2')).json(), { read: 2, limit: 2 })
    t.match((await replay(bundle, '?since=1h')).json(), { read: 7 })
    t.match((await replay(bundle, `?since=${Date.now() + 60_000}`)).json(), { read: 0, changes: [] })
  })

  await t.test('admins only, by the policy', async (t) => {
    t.equal((await replay(bundle, '', user.headers)).statusCode, 403)
    t.equal((await replay(bundle, '', {})).statusCode, 401)
  })

  await t.test('bad uploads and queries are 400s that say why', async (t) => {
    const garbage = await replay(Buffer.from('not a bundle'))
    t.equal(garbage.statusCode, 400)
    t.match(garbage.json().message, /bundle cannot be used: policy bundle is not a valid gzip stream/)
    t.equal((await replay(Buffer.alloc(0))).statusCode, 400)
    for (const query of ['?since=yesterday', '?limit=0', '?limit=20000', '?other=1']) {
      const res = await replay(bundle, query)
      t.equal(res.statusCode, 400, query)
      t.equal(res.json().code, 'INVALID_REQUEST')
    }
    const json = await server.app.inject({ method: 'POST', url: REPLAY, headers: admin.headers, payload: {} })
    t.equal(json.statusCode, 400, 'a JSON body is no bundle')
  })
}))

t.test('both routes are in the OpenAPI document', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store)
  const doc = (await server.app.inject({ url: '/openapi.json' })).json()
  t.ok(doc.paths[CHECK]?.post, CHECK)
  t.match(doc.paths[REPLAY]?.post?.description, 'application/gzip', `${REPLAY} says what body it takes`)
}))
