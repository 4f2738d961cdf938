import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, testServer, type TestServer } from '../helpers/server.js'

async function status (server: TestServer, token: string): Promise<number> {
  return (await server.authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: bearer(token) })).status
}

t.test('listing and ending sessions', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const { app } = server
  const post = async (url: string, headers: Record<string, string>, payload: object = {}) =>
    (await app.inject({ method: 'POST', url, headers, payload }))
  const get = async (url: string, headers: Record<string, string>) => await app.inject({ url, headers })
  const ids = (res: { json: () => { items: Array<{ id: string }> } }): string[] => res.json().items.map((s) => s.id)

  await t.test('the caller\'s sessions that still work, never their tokens', async (t) => {
    const owner = await server.account()
    const short = (await post('/api/v1/session/create', owner.headers, { durationInSeconds: 60 })).json()
    server.advance(1) // a list is in order of creation; within one instant, of id
    const long = (await post('/api/v1/session/create', owner.headers, { config: { allowedRoutes: ['bot/**'] } })).json()
    const ended = (await post('/api/v1/session/create', owner.headers)).json()
    await post(`/api/v1/session/${ended.id as string}/delete`, owner.headers)

    const listed = await get('/api/v1/session/list', owner.headers)
    t.equal(listed.statusCode, 200)
    t.same(ids(listed), [short.id, long.id], 'an ended session is not listed')
    t.same(listed.json().items[1], { id: long.id, allowedRoutes: ['bot/**'], createdAt: listed.json().items[1].createdAt, expiresAt: long.expiresAt })
    t.type(listed.json().items[0].createdAt, 'number')
    t.notOk(listed.body.includes(short.token.split('.')[2]), 'no token')
    t.same(ids(await get('/api/v1/session/list?order=desc&take=1', owner.headers)), [long.id])
    const page = (await get('/api/v1/session/list?take=1', owner.headers)).json()
    t.same(ids(await get(`/api/v1/session/list?take=1&cursor=${page.cursor as string}`, owner.headers)), [long.id])
    server.advance(60)
    t.same(ids(await get('/api/v1/session/list', owner.headers)), [long.id], 'an expired session is not listed')
    const stranger = await server.account()
    t.same(ids(await get('/api/v1/session/list', stranger.headers)), [], 'only one\'s own')
    t.equal((await get(`/api/v1/session/list?cursor=${page.cursor as string}`, stranger.headers)).statusCode, 400, 'a cursor of another list')
  })

  await t.test('a parent lists and ends its child\'s sessions', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const minted = (await post(`/api/v1/partner/user/${child.id}/session/create`, parent.headers, { config: { contactId: 'c_1', namespace: 'n' } })).json()
    t.equal(await status(server, minted.token), 200)
    t.same(ids(await get(`/api/v1/partner/user/${child.id}/session/list`, parent.headers)), [minted.id])
    t.same(ids(await get('/api/v1/session/list', { ...parent.headers, 'x-runas-user-id': child.id })), [minted.id], 'or acting as the child')

    const ended = await post(`/api/v1/partner/user/${child.id}/session/${minted.id as string}/delete`, parent.headers)
    t.same(ended.json(), { id: minted.id })
    t.equal(await status(server, minted.token), 401, 'ended at once')
    t.same(ids(await get(`/api/v1/partner/user/${child.id}/session/list`, parent.headers)), [])
  })

  await t.test('another parent\'s child or session is the same 404 as none', async (t) => {
    const parent = await server.account()
    const other = await server.account()
    const theirs = await server.account({ parentId: other.id })
    const session = (await post(`/api/v1/partner/user/${theirs.id}/session/create`, other.headers)).json()
    const mine = await server.account({ parentId: parent.id })
    const bodies = []
    for (const res of [
      await get(`/api/v1/partner/user/${theirs.id}/session/list`, parent.headers),
      await post(`/api/v1/partner/user/${theirs.id}/session/${session.id as string}/delete`, parent.headers),
      await post(`/api/v1/partner/user/${mine.id}/session/${session.id as string}/delete`, parent.headers),
      await post(`/api/v1/partner/user/${mine.id}/session/ses_00000000000000000000/delete`, parent.headers)
    ]) bodies.push([res.statusCode, res.body])
    for (const body of bodies) t.same(body, [404, '{"message":"Not found","code":"NOT_FOUND"}'])
    t.equal(await status(server, session.token), 200, 'their session still works')
  })

  await t.test('a session token may not list sessions (management needs a secret key)', async (t) => {
    const owner = await server.account()
    const session = (await post('/api/v1/session/create', owner.headers)).json()
    t.equal((await get('/api/v1/session/list', bearer(session.token))).statusCode, 403)
    t.equal((await get('/api/v1/session/list', {})).statusCode, 401)
  })
}))
