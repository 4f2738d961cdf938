import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, stableHeaders, testServer } from '../helpers/server.js'

t.test('partner users', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const { app } = server
  const parent = await server.account()
  const post = async (url: string, payload?: unknown, headers: Record<string, string | string[]> = parent.headers) =>
    await app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) })
  const get = async (url: string, headers: Record<string, string | string[]> = parent.headers) => await app.inject({ url, headers })

  await t.test('create, fetch, update, delete a child', async (t) => {
    const created = await post('/api/v1/partner/user/create', { name: 'Ada', email: 'ada@example.com' })
    t.equal(created.statusCode, 200)
    const { id } = created.json()
    t.same(Object.keys(created.json()), ['id'])
    t.equal((await store.findUserById(id))?.parentId, parent.id, 'a child of the caller')

    const fetched = await get(`/api/v1/partner/user/${id}/fetch`)
    t.equal(fetched.statusCode, 200)
    const user = fetched.json()
    t.match(user, { id, name: 'Ada', email: 'ada@example.com' })
    t.type(user.createdAt, 'number', 'epoch milliseconds, as the SDK reads them')
    t.type(user.updatedAt, 'number')
    t.ok(Math.abs(user.createdAt - Date.now()) < 60_000)

    const updated = await post(`/api/v1/partner/user/${id}/update`, { name: 'Ada L.', email: 'ada.l@example.com' })
    t.same(updated.json(), { id })
    t.match((await get(`/api/v1/partner/user/${id}/fetch`)).json(), { name: 'Ada L.', email: 'ada.l@example.com' })

    const deleted = await post(`/api/v1/partner/user/${id}/delete`, {})
    t.same(deleted.json(), { id })
    t.equal((await get(`/api/v1/partner/user/${id}/fetch`)).statusCode, 404, 'gone')
    t.equal((await post(`/api/v1/partner/user/${id}/delete`)).statusCode, 404, 'deleting twice; the body may be left out')
  })

  await t.test('a second child with the same e-mail is a conflict', async (t) => {
    await post('/api/v1/partner/user/create', { email: 'twin@example.com' })
    const again = await post('/api/v1/partner/user/create', { email: 'TWIN@example.com' })
    t.equal(again.statusCode, 409)
    t.equal(again.json().code, 'CONFLICT')
  })

  await t.test('list with cursor and take, only the caller\'s live children', async (t) => {
    const owner = await server.account()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      ids.push((await post('/api/v1/partner/user/create', { email: `c${i}@example.com` }, owner.headers)).json().id)
    }
    await post(`/api/v1/partner/user/${ids[4] as string}/delete`, {}, owner.headers)
    await post('/api/v1/partner/user/create', { email: 'someone-else@example.com' })

    const first = await get('/api/v1/partner/user/list?take=2', owner.headers)
    t.equal(first.statusCode, 200)
    t.same(first.json().items.map((u: { id: string }) => u.id), ids.slice(0, 2))
    t.type(first.json().cursor, 'string')
    const second = await get(`/api/v1/partner/user/list?take=2&cursor=${first.json().cursor as string}`, owner.headers)
    t.same(second.json().items.map((u: { id: string }) => u.id), ids.slice(2, 4))
    t.notOk('cursor' in second.json(), 'no cursor on the last page (the deleted child is not listed)')

    const all = await get('/api/v1/partner/user/list', owner.headers)
    t.same(all.json().items.map((u: { id: string }) => u.id), ids.slice(0, 4))

    const foreign = await get(`/api/v1/partner/user/list?cursor=${first.json().cursor as string}`)
    t.equal(foreign.statusCode, 400, 'a cursor from another list')
    for (const query of ['take=0', 'take=101', 'take=two', 'take=1&take=2', 'order=newest', 'meta=x', 'mystery=1']) {
      const res = await get(`/api/v1/partner/user/list?${query}`, owner.headers)
      t.equal(res.statusCode, 400, query)
      t.equal(res.json().code, 'INVALID_REQUEST', query)
    }
  })

  await t.test("another parent's child is exactly like one that does not exist", async (t) => {
    const other = await server.account()
    const theirs = await server.account({ parentId: other.id })
    const grandchild = await server.account({ parentId: theirs.id })
    const missing = 'usr_00000000000000000000'
    const answers = []
    for (const id of [missing, theirs.id, grandchild.id, other.id, parent.id]) {
      for (const [method, url, payload] of [
        ['GET', `/api/v1/partner/user/${id}/fetch`, undefined],
        ['POST', `/api/v1/partner/user/${id}/update`, { name: 'x' }],
        ['POST', `/api/v1/partner/user/${id}/delete`, {}],
        ['POST', `/api/v1/partner/user/${id}/token/create`, {}]
      ] as const) {
        const res = await app.inject({ method, url, headers: parent.headers, ...(payload === undefined ? {} : { payload }) })
        t.equal(res.statusCode, 404, `${method} ${url}`)
        answers.push({ body: res.body, headers: stableHeaders(res.headers) })
      }
    }
    t.equal(answers[0]?.body, '{"message":"Not found","code":"NOT_FOUND"}')
    for (const answer of answers) t.same(answer, answers[0])
    t.equal((await store.findUserById(theirs.id))?.name, null, 'nothing was changed')
    t.equal((await store.findUserById(theirs.id))?.status, 'active')
  })

  await t.test('a key for a child: works at once, as the child', async (t) => {
    const { id } = (await post('/api/v1/partner/user/create', { email: 'keyed@example.com' })).json()
    const res = await post(`/api/v1/partner/user/${id}/token/create`, { name: 'ci', expiresInSeconds: 3600 })
    t.equal(res.statusCode, 200)
    const key = res.json()
    t.same(Object.keys(key).sort(), ['createdAt', 'id', 'token'])
    t.match(key.token, /^sk-/)
    const check = await app.inject({ url: '/v1/forward-auth', headers: { ...bearer(key.token), 'x-original-uri': '/api/v1/bot/list' } })
    t.equal(check.headers['x-keygate-user-id'], id)
  })

  await t.test('deleting a child ends its keys and its impersonation at once', async (t) => {
    const { id } = (await post('/api/v1/partner/user/create', { email: 'short-lived@example.com' })).json()
    const key = (await post(`/api/v1/partner/user/${id}/token/create`, {})).json()
    const asChild = { ...bearer(key.token), 'x-original-uri': '/api/v1/bot/list' }
    const runAs = { ...parent.headers, 'x-runas-user-id': id, 'x-original-uri': '/api/v1/bot/list' }
    t.equal((await app.inject({ url: '/v1/forward-auth', headers: asChild })).statusCode, 200, 'warms the caches')
    t.equal((await app.inject({ url: '/v1/forward-auth', headers: runAs })).statusCode, 200)
    await post(`/api/v1/partner/user/${id}/delete`)
    t.equal((await app.inject({ url: '/v1/forward-auth', headers: asChild })).statusCode, 401)
    t.equal((await app.inject({ url: '/v1/forward-auth', headers: runAs })).statusCode, 403)
  })

  await t.test('400 for unknown fields, wrong types and bad values', async (t) => {
    const { id } = (await post('/api/v1/partner/user/create', { email: 'strict@example.com' })).json()
    const cases: Array<[string, unknown]> = [
      ['/api/v1/partner/user/create', { email: 'a@example.com', meta: 'not an object' }],
      ['/api/v1/partner/user/create', { email: 'a@example.com', parentId: parent.id }],
      ['/api/v1/partner/user/create', { name: 'no e-mail' }],
      ['/api/v1/partner/user/create', { email: 42 }],
      ['/api/v1/partner/user/create', { email: 'not an address' }],
      ['/api/v1/partner/user/create', { email: 'a@example.com', name: 'x'.repeat(201) }],
      ['/api/v1/partner/user/create', []],
      [`/api/v1/partner/user/${id as string}/update`, { parentId: parent.id }],
      [`/api/v1/partner/user/${id as string}/update`, { name: 7 }],
      [`/api/v1/partner/user/${id as string}/delete`, { force: true }],
      [`/api/v1/partner/user/${id as string}/token/create`, { scopes: 'read' }],
      [`/api/v1/partner/user/${id as string}/token/create`, { scopes: ['everything'] }],
      [`/api/v1/partner/user/${id as string}/token/create`, { expiresInSeconds: 0 }],
      [`/api/v1/partner/user/${id as string}/token/create`, { expiresInSeconds: '60' }]
    ]
    for (const [url, payload] of cases) {
      const res = await post(url, payload)
      t.equal(res.statusCode, 400, `${url} ${JSON.stringify(payload)}`)
      t.equal(res.json().code, 'INVALID_REQUEST')
      t.type(res.json().message, 'string')
    }
    const malformed = await app.inject({ method: 'POST', url: '/api/v1/partner/user/create', headers: { ...parent.headers, 'content-type': 'application/json' }, payload: '{"email":' })
    t.equal(malformed.statusCode, 400)
    t.equal(malformed.json().code, 'INVALID_REQUEST')
  })

  await t.test('the policy guards every route: 401 without a key, 403 while impersonating', async (t) => {
    const child = await server.account({ parentId: parent.id })
    const unauthenticated = await app.inject({ method: 'POST', url: '/api/v1/partner/user/create', payload: { email: 'x@example.com' } })
    t.equal(unauthenticated.statusCode, 401)
    t.equal(unauthenticated.body, '{"message":"Not authenticated","code":"NOT_AUTHENTICATED"}')
    const impersonating = await get('/api/v1/partner/user/list', { ...parent.headers, 'x-runas-user-id': child.id })
    t.equal(impersonating.statusCode, 403)
    t.equal(impersonating.body, '{"message":"Not authorized","code":"NOT_AUTHORIZED"}')
    const readOnlyScope = await server.account({ scopes: ['read'] })
    t.equal((await get('/api/v1/partner/user/list', readOnlyScope.headers)).statusCode, 403, 'partner routes need the manage scope')
  })
}))
