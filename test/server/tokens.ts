import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, stableHeaders, testServer, type TestServer } from '../helpers/server.js'

t.test('secret keys', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const { app } = server
  const post = async (url: string, payload: object | undefined, headers: Record<string, string>) =>
    await app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) })

  await t.test('create: the secret once, and it works at once', async (t) => {
    const owner = await server.account()
    const res = await post('/api/v1/token/create', { name: 'deploy' }, owner.headers)
    t.equal(res.statusCode, 200)
    const key = res.json()
    t.same(Object.keys(key).sort(), ['createdAt', 'id', 'token'])
    t.type(key.createdAt, 'number')
    t.equal(await status(server, key.token), 200)
    t.equal((await store.findKeyById(key.id))?.name, 'deploy')
    const bare = await post('/api/v1/token/create', undefined, owner.headers)
    t.equal(bare.statusCode, 200, 'the body may be left out')
  })

  await t.test('list: prefixes, never a secret; paginated; revoked keys gone', async (t) => {
    const owner = await server.account()
    const tokens = [owner.token]
    const ids = [owner.keyId]
    for (let i = 0; i < 3; i++) {
      const key = (await post('/api/v1/token/create', { name: `k${i}`, scopes: ['read'] }, owner.headers)).json()
      tokens.push(key.token)
      ids.push(key.id)
    }
    await post(`/api/v1/token/${ids[1] as string}/delete`, {}, owner.headers)
    const first = await app.inject({ url: '/api/v1/token/list?take=2', headers: owner.headers })
    t.equal(first.statusCode, 200)
    const page = first.json()
    t.same(page.items.map((k: { id: string }) => k.id), [ids[0], ids[2]])
    t.match(page.items[1], { id: ids[2], name: 'k1', prefix: (tokens[2] as string).slice(0, 9), scopes: ['read'], revokedAt: null, expiresAt: null })
    t.type(page.items[1].createdAt, 'number')
    const second = await app.inject({ url: `/api/v1/token/list?take=2&cursor=${page.cursor as string}`, headers: owner.headers })
    t.same(second.json().items.map((k: { id: string }) => k.id), [ids[3]])
    for (const body of [first.body, second.body]) {
      for (const token of tokens) t.notOk(body.includes(token), 'no secret in the listing')
      t.notMatch(body, /"(token|hash|secret)"/)
    }
    const others = await app.inject({ url: '/api/v1/token/list', headers: (await server.account()).headers })
    t.equal(others.json().items.length, 1, 'only the caller\'s own keys')
  })

  await t.test('delete: refused at once, and only the caller\'s own keys', async (t) => {
    const owner = await server.account()
    const spare = (await post('/api/v1/token/create', {}, owner.headers)).json()
    t.equal(await status(server, spare.token), 200, 'cached as valid')
    const res = await post(`/api/v1/token/${spare.id as string}/delete`, {}, owner.headers)
    t.same(res.json(), { id: spare.id })
    t.equal(await status(server, spare.token), 401, 'revoked key refused at once')

    const stranger = await server.account()
    const answers = []
    for (const id of [stranger.keyId, spare.id, 'key_00000000000000000000']) {
      const refused = await post(`/api/v1/token/${id as string}/delete`, {}, owner.headers)
      t.equal(refused.statusCode, 404, id)
      answers.push({ body: refused.body, headers: stableHeaders(refused.headers) })
    }
    for (const answer of answers) t.same(answer, answers[0])
    t.equal(await status(server, stranger.token), 200, "a stranger's key is untouched")
    const self = await post(`/api/v1/token/${owner.keyId}/delete`, {}, owner.headers)
    t.equal(self.statusCode, 200, 'a key may revoke itself')
    t.equal(await status(server, owner.token), 401)
  })

  await t.test('expiresInSeconds', async (t) => {
    const owner = await server.account()
    const key = (await post('/api/v1/token/create', { expiresInSeconds: 60 }, owner.headers)).json()
    t.equal(await status(server, key.token), 200)
    server.advance(59)
    t.equal(await status(server, key.token), 200)
    server.advance(2)
    t.equal(await status(server, key.token), 401)
  })

  await t.test('roll: the old key works until the grace deadline, then 401', async (t) => {
    const owner = await server.account()
    const old = (await post('/api/v1/token/create', { name: 'rolled', scopes: ['read', 'manage'] }, owner.headers)).json()
    t.equal(await status(server, old.token), 200, 'cached as valid')
    const res = await post(`/api/v1/token/${old.id as string}/roll`, { graceSeconds: 60 }, bearer(old.token))
    t.equal(res.statusCode, 200)
    const replacement = res.json()
    t.same(Object.keys(replacement).sort(), ['createdAt', 'id', 'token'])
    t.not(replacement.id, old.id)
    t.match(await store.findKeyById(replacement.id), { name: 'rolled', scopes: ['manage', 'read'], userId: owner.id })
    t.equal(await status(server, replacement.token), 200)
    server.advance(59)
    t.equal(await status(server, old.token), 200, 'within the grace period')
    server.advance(2)
    t.equal(await status(server, old.token), 401, 'after the deadline')
    t.equal(await status(server, replacement.token), 200)
  })

  await t.test('roll without a grace period ends the old key at once', async (t) => {
    const owner = await server.account()
    t.equal(await status(server, owner.token), 200)
    const replacement = (await post(`/api/v1/token/${owner.keyId}/roll`, {}, owner.headers)).json()
    t.equal(await status(server, owner.token), 401)
    t.equal(await status(server, replacement.token), 200)
    const again = await post(`/api/v1/token/${owner.keyId}/roll`, {}, bearer(replacement.token))
    t.equal(again.statusCode, 200, 'an expired key can still be replaced by its owner')
    const stranger = await server.account()
    t.equal((await post(`/api/v1/token/${stranger.keyId}/roll`, {}, bearer(replacement.token))).statusCode, 404)
  })

  await t.test('a scoped key never grants more than it holds', async (t) => {
    const owner = await server.account()
    const scoped = (await post('/api/v1/token/create', { scopes: ['manage', 'read'] }, owner.headers)).json()
    const inherited = (await post('/api/v1/token/create', {}, bearer(scoped.token))).json()
    t.same((await store.findKeyById(inherited.id))?.scopes, ['manage', 'read'], 'omitted scopes are the caller\'s')
    const explicitNull = (await post('/api/v1/token/create', { scopes: null }, bearer(scoped.token))).json()
    t.same((await store.findKeyById(explicitNull.id))?.scopes, ['manage', 'read'], 'null scopes too')
    const narrower = await post('/api/v1/token/create', { scopes: ['read'] }, bearer(scoped.token))
    t.equal(narrower.statusCode, 200)
    const answers = []
    for (const [url, payload] of [
      ['/api/v1/token/create', { scopes: ['*'] }],
      ['/api/v1/token/create', { scopes: ['write'] }],
      [`/api/v1/token/${owner.keyId}/roll`, {}],
      [`/api/v1/partner/user/${(await server.account({ parentId: owner.id })).id}/token/create`, { scopes: ['write'] }]
    ] as const) {
      const res = await post(url, payload, bearer(scoped.token))
      t.equal(res.statusCode, 403, `${url} ${JSON.stringify(payload)}`)
      answers.push({ body: res.body, headers: stableHeaders(res.headers) })
    }
    for (const answer of answers) t.same(answer, answers[0])
    t.equal(answers[0]?.body, '{"message":"Not authorized","code":"NOT_AUTHORIZED"}')
    t.equal(await status(server, owner.token), 200, 'the full key was not rolled')
  })

  await t.test('400 for unknown fields and wrong types', async (t) => {
    const owner = await server.account()
    const cases: Array<[string, unknown]> = [
      ['/api/v1/token/create', { name: 'x', description: 42 }],
      ['/api/v1/token/create', { name: 'x', owner: 'someone' }],
      ['/api/v1/token/create', { expiresInSeconds: '60' }],
      ['/api/v1/token/create', { expiresInSeconds: 1.5 }],
      ['/api/v1/token/create', { scopes: [1] }],
      [`/api/v1/token/${owner.keyId}/roll`, { graceSeconds: -1 }],
      [`/api/v1/token/${owner.keyId}/roll`, { graceSeconds: '5' }],
      [`/api/v1/token/${owner.keyId}/roll`, { graceSeconds: 30 * 24 * 3600 + 1 }],
      [`/api/v1/token/${owner.keyId}/delete`, { now: true }]
    ]
    for (const [url, payload] of cases) {
      const res = await post(url, payload as object, owner.headers)
      t.equal(res.statusCode, 400, `${url} ${JSON.stringify(payload)}`)
      t.equal(res.json().code, 'INVALID_REQUEST')
    }
    t.equal(await status(server, owner.token), 200, 'nothing happened to the key')
  })
}))

async function status (server: TestServer, token: string): Promise<number> {
  const res = await server.app.inject({ url: '/v1/forward-auth', headers: { ...bearer(token), 'x-original-uri': '/api/v1/bot/list' } })
  return res.statusCode
}
