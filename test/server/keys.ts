import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, stableHeaders, testServer, type TestServer } from '../helpers/server.js'

/** What Keygate says about a request with this key. */
async function status (server: TestServer, token: string, path = '/api/v1/bot/list'): Promise<number> {
  return (await server.authorizer.authorize({ method: 'GET', path, headers: bearer(token) })).status
}

t.test('keys of the caller, of a child and of any account', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const { app } = server
  const post = async (url: string, headers: Record<string, string>, payload: object = {}) =>
    await app.inject({ method: 'POST', url, headers, payload })
  const get = async (url: string, headers: Record<string, string>) => await app.inject({ url, headers })

  await t.test('a parent lists, renames, rolls and revokes its child\'s keys', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const base = `/api/v1/partner/user/${child.id}/token`

    const listed = await get(`${base}/list`, parent.headers)
    t.equal(listed.statusCode, 200, 'no longer NOT_FOUND')
    t.same(listed.json().items.map((k: { id: string }) => k.id), [child.keyId])
    t.match(listed.json().items[0], { prefix: child.token.slice(0, 9), createdAt: Number, updatedAt: Number, requestCount: 0 })

    const renamed = await post(`${base}/${child.keyId}/update`, parent.headers, { name: 'deploy' })
    t.same(renamed.json(), { id: child.keyId })
    const after = (await get(`${base}/list`, parent.headers)).json().items[0]
    t.equal(after.name, 'deploy')
    t.ok(after.updatedAt >= listed.json().items[0].updatedAt)

    const rolled = await post(`${base}/${child.keyId}/roll`, parent.headers, { graceSeconds: 60 })
    t.equal(rolled.statusCode, 200)
    t.match(rolled.json(), { id: /^key_/, token: /^sk-/, createdAt: Number })
    t.equal(await status(server, rolled.json().token), 200, 'the new key works')
    t.equal(await status(server, child.token), 200, 'the old one until the grace period ends')
    server.advance(61)
    t.equal(await status(server, child.token), 401, 'then it has expired')

    const revoked = await post(`${base}/${rolled.json().id as string}/delete`, parent.headers)
    t.same(revoked.json(), { id: rolled.json().id })
    t.equal(await status(server, rolled.json().token), 401, 'revoked at once')
    t.equal((await post(`${base}/${rolled.json().id as string}/delete`, parent.headers)).statusCode, 404, 'revoking twice')
  })

  await t.test('someone else\'s child, key or grandchild is the same 404 as nothing at all', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const other = await server.account()
    const theirs = await server.account({ parentId: other.id })
    const grandchild = await server.account({ parentId: child.id })
    const missing = 'usr_00000000000000000000'
    const answers = []
    for (const [userId, keyId] of [[theirs.id, theirs.keyId], [grandchild.id, grandchild.keyId], [child.id, theirs.keyId], [missing, 'key_00000000000000000000'], [parent.id, parent.keyId]]) {
      const own = userId === child.id // the child is the caller's: listing its keys is fine, another's key is not
      for (const res of [
        ...(own ? [] : [await get(`/api/v1/partner/user/${userId as string}/token/list`, parent.headers)]),
        await post(`/api/v1/partner/user/${userId as string}/token/${keyId as string}/delete`, parent.headers),
        await post(`/api/v1/partner/user/${userId as string}/token/${keyId as string}/roll`, parent.headers),
        await post(`/api/v1/partner/user/${userId as string}/token/${keyId as string}/update`, parent.headers, { name: 'x' })
      ]) answers.push({ status: res.statusCode, body: res.body, headers: stableHeaders(res.headers) })
    }
    for (const answer of answers) t.same(answer, answers[0])
    t.equal(answers[0]?.status, 404)
    t.equal(await status(server, theirs.token), 200, 'nothing happened to their key')
  })

  await t.test('the policy guards them: no key, a session token, impersonation, a scoped key', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const list = `/api/v1/partner/user/${child.id}/token/list`
    t.equal((await get(list, {})).statusCode, 401)
    const session = (await post('/api/v1/session/create', parent.headers)).json()
    t.equal((await get(list, bearer(session.token))).statusCode, 403, 'a session token never manages keys')
    t.equal((await get(list, { ...parent.headers, 'x-runas-user-id': child.id })).statusCode, 403, 'not while acting as the child')
    const readOnly = await server.account({ scopes: ['read'] })
    const readOnlyChild = await server.account({ parentId: readOnly.id })
    t.equal((await get(`/api/v1/partner/user/${readOnlyChild.id}/token/list`, readOnly.headers)).statusCode, 403, 'management needs the manage scope')
    const manager = await server.account({ scopes: ['manage'] })
    const managed = await server.account({ parentId: manager.id })
    t.equal((await get(`/api/v1/partner/user/${managed.id}/token/list`, manager.headers)).statusCode, 200)
    t.equal((await post(`/api/v1/partner/user/${managed.id}/token/${managed.keyId}/roll`, manager.headers)).statusCode, 403,
      'a manage-scoped key cannot roll a full-access key into being')
  })

  await t.test('the caller\'s own keys: list, rename, roll, revoke', async (t) => {
    const owner = await server.account()
    const spare = (await post('/api/v1/token/create', owner.headers, { name: 'spare' })).json()
    t.same((await get('/api/v1/token/list?order=desc', owner.headers)).json().items.map((k: { id: string }) => k.id), [spare.id, owner.keyId])
    t.same((await post(`/api/v1/token/${spare.id as string}/update`, owner.headers, { name: 'renamed', description: 'ignored' })).json(), { id: spare.id })
    t.equal((await get('/api/v1/token/list', owner.headers)).json().items[1].name, 'renamed')
    t.equal((await post(`/api/v1/token/${spare.id as string}/delete`, owner.headers)).statusCode, 200)
    t.equal(await status(server, spare.token), 401)
  })

  await t.test('operators list, revoke and roll any account\'s keys; nobody else may', async (t) => {
    const admin = await server.account({ role: 'admin' })
    const user = await server.account()
    const base = `/admin/v1/user/${user.id}/token`
    t.same((await get(`${base}/list`, admin.headers)).json().items.map((k: { id: string }) => k.id), [user.keyId])
    const rolled = await post(`${base}/${user.keyId}/roll`, admin.headers)
    t.equal(rolled.statusCode, 200)
    t.equal(await status(server, user.token), 401, 'no grace period by default')
    t.equal(await status(server, rolled.json().token), 200)
    t.same((await post(`${base}/${rolled.json().id as string}/delete`, admin.headers)).json(), { id: rolled.json().id })
    t.equal(await status(server, rolled.json().token), 401)
    t.equal((await get('/admin/v1/user/usr_00000000000000000000/token/list', admin.headers)).statusCode, 404)
    const gone = await server.account()
    await store.deleteUser(gone.id)
    t.equal((await get(`/admin/v1/user/${gone.id}/token/list`, admin.headers)).statusCode, 404, 'a deleted account has no keys to manage')

    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    for (const res of [
      await get(`/admin/v1/user/${child.id}/token/list`, parent.headers),
      await post(`/admin/v1/user/${child.id}/token/${child.keyId}/delete`, parent.headers),
      await post(`/admin/v1/user/${child.id}/token/${child.keyId}/roll`, parent.headers)
    ]) t.equal(res.statusCode, 403, 'the admin class: admin accounts only, even for one\'s own child')
    t.equal(await status(server, child.token), 200)
  })

  await t.test('400 for fields nobody sends', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const base = `/api/v1/partner/user/${child.id}/token/${child.keyId}`
    for (const [url, payload] of [
      [`${base}/update`, { scopes: ['*'] }],
      [`${base}/update`, { name: 5 }],
      [`${base}/update`, { meta: 'x' }],
      [`${base}/delete`, { force: true }],
      [`${base}/roll`, { graceSeconds: -1 }]
    ] as Array<[string, object]>) {
      const res = await post(url, parent.headers, payload)
      t.equal(res.statusCode, 400, `${url} ${JSON.stringify(payload)}`)
      t.equal(res.json().code, 'INVALID_REQUEST')
    }
    t.equal((await get(`/api/v1/partner/user/${child.id}/token/list?order=sideways`, parent.headers)).statusCode, 400)
  })
}))
