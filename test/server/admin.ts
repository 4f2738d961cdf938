import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, stableHeaders, testServer, type TestServer } from '../helpers/server.js'

t.test('operator API', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const { app } = server
  const admin = await server.account({ role: 'admin' })
  const post = async (url: string, payload: object, headers: Record<string, string> = admin.headers) =>
    await app.inject({ method: 'POST', url, headers, payload })

  await t.test('create, fetch, update and key an account', async (t) => {
    const parent = await server.account()
    const created = await post('/admin/v1/user/create', { email: 'ops@example.com', name: 'Ops', parentId: parent.id })
    t.equal(created.statusCode, 200)
    const { id } = created.json()
    const fetched = await app.inject({ url: `/admin/v1/user/${id as string}/fetch`, headers: admin.headers })
    t.match(fetched.json(), { id, email: 'ops@example.com', name: 'Ops', parentId: parent.id, role: 'user', status: 'active', restrictions: [] })
    t.type(fetched.json().createdAt, 'number')

    const key = (await post(`/admin/v1/user/${id as string}/token/create`, { name: 'ops' })).json()
    t.same(Object.keys(key).sort(), ['createdAt', 'id', 'token'])
    t.equal(await status(server, key.token, '/api/v1/bot/create'), 200)

    const restricted = await post(`/admin/v1/user/${id as string}/update`, { restrictions: ['read-only'] })
    t.equal(restricted.statusCode, 200)
    t.same(restricted.json().restrictions, ['read-only'])
    t.equal(await status(server, key.token, '/api/v1/bot/create'), 403, 'read-only at once')
    t.equal(await status(server, key.token, '/api/v1/bot/list'), 200)

    const disabled = await post(`/admin/v1/user/${id as string}/update`, { disabled: true, restrictions: [] })
    t.match(disabled.json(), { status: 'disabled', restrictions: [] })
    t.equal(await status(server, key.token, '/api/v1/bot/list'), 401, 'a disabled account\'s key is not valid, at once')
    const enabled = await post(`/admin/v1/user/${id as string}/update`, { disabled: false })
    t.equal(enabled.json().status, 'active')
    t.equal(await status(server, key.token, '/api/v1/bot/list'), 200)
  })

  await t.test('deleted accounts are still visible to operators', async (t) => {
    const user = await server.account()
    await store.deleteUser(user.id)
    const fetched = await app.inject({ url: `/admin/v1/user/${user.id}/fetch`, headers: admin.headers })
    t.equal(fetched.json().status, 'deleted')
    t.equal((await post(`/admin/v1/user/${user.id}/update`, { disabled: true })).statusCode, 404)
    t.equal((await post(`/admin/v1/user/${user.id}/token/create`, {})).statusCode, 404)
  })

  await t.test('404, 409 and 400', async (t) => {
    const missing = 'usr_00000000000000000000'
    t.equal((await app.inject({ url: `/admin/v1/user/${missing}/fetch`, headers: admin.headers })).statusCode, 404)
    t.equal((await post(`/admin/v1/user/${missing}/update`, { disabled: true })).statusCode, 404)
    t.equal((await post('/admin/v1/user/create', { email: 'orphan@example.com', parentId: missing })).statusCode, 404)
    await post('/admin/v1/user/create', { email: 'top@example.com' })
    t.equal((await post('/admin/v1/user/create', { email: 'top@example.com' })).statusCode, 409)
    const user = await server.account()
    for (const [url, payload] of [
      ['/admin/v1/user/create', { email: 'a@example.com', role: 'admin' }],
      ['/admin/v1/user/create', {}],
      [`/admin/v1/user/${user.id}/update`, { restrictions: 'read-only' }],
      [`/admin/v1/user/${user.id}/update`, { restrictions: ['Read Only'] }],
      [`/admin/v1/user/${user.id}/update`, { restrictions: ['a', 'a'] }],
      [`/admin/v1/user/${user.id}/update`, { disabled: 'yes' }],
      [`/admin/v1/user/${user.id}/update`, { email: 'x@example.com' }],
      [`/admin/v1/user/${user.id}/token/create`, { expiresInSeconds: -5 }]
    ] as const) {
      const res = await post(url, payload)
      t.equal(res.statusCode, 400, `${url} ${JSON.stringify(payload)}`)
      t.equal(res.json().code, 'INVALID_REQUEST')
    }
  })

  await t.test('only admin accounts, by the policy: the same 403 for everyone else', async (t) => {
    const user = await server.account()
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const scopedAdmin = await server.account({ role: 'admin', scopes: ['manage', 'write'] })
    const callers = {
      'a normal key': user.headers,
      'a parent impersonating its child': { ...parent.headers, 'x-runas-user-id': child.id },
      'an admin impersonating': { ...admin.headers, 'x-runas-user-id': (await server.account({ parentId: admin.id })).id },
      'an admin key without full scopes': scopedAdmin.headers
    }
    const answers = []
    for (const [name, headers] of Object.entries(callers)) {
      for (const [method, url] of [
        ['POST', '/admin/v1/user/create'],
        ['GET', `/admin/v1/user/${user.id}/fetch`],
        ['POST', `/admin/v1/user/${user.id}/update`],
        ['POST', `/admin/v1/user/${user.id}/token/create`]
      ] as const) {
        const res = await app.inject({ method, url, headers, ...(method === 'POST' ? { payload: { email: 'x@example.com' } } : {}) })
        t.equal(res.statusCode, 403, `${name}: ${method} ${url}`)
        answers.push({ body: res.body, headers: stableHeaders(res.headers) })
      }
    }
    for (const answer of answers) t.same(answer, answers[0])
    t.equal((await app.inject({ url: `/admin/v1/user/${user.id}/fetch` })).statusCode, 401)
    t.equal((await store.listUsers({ parentId: null })).items.some((u) => u.email === 'x@example.com'), false, 'nothing was created')
  })
}))

async function status (server: TestServer, token: string, uri: string): Promise<number> {
  const res = await server.app.inject({ url: '/v1/forward-auth', headers: { ...bearer(token), 'x-original-uri': uri } })
  return res.statusCode
}
