import { ChatBotKit } from '@chatbotkit/sdk'
import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, stableHeaders, testServer, type TestServer } from '../helpers/server.js'
import { partsOf } from '../helpers/sessions.js'

async function post (server: TestServer, url: string, headers: Record<string, string>, payload?: unknown): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  const res = await server.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) })
  return { status: res.statusCode, body: res.body === '' ? null : res.json(), headers: res.headers }
}

/** What the authorizer says about a request with this token. */
async function statusWith (server: TestServer, token: string, path = '/api/v1/bot/list', extra: Record<string, string> = {}): Promise<number> {
  return (await server.authorizer.authorize({ method: 'POST', path, headers: { ...bearer(token), ...extra } })).status
}

t.test('session routes', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)

  await t.test('POST /api/v1/session/create: a session for the caller', async (t) => {
    const owner = await server.account()
    const before = server.now().getTime()
    const res = await post(server, '/api/v1/session/create', owner.headers, {})
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), ['expiresAt', 'id', 'token'])
    t.ok(res.body.expiresAt >= before + 899_000 && res.body.expiresAt <= server.now().getTime() + 900_000, 'default 900 s, epoch ms')
    t.equal(partsOf(res.body.token).payload.sub, owner.id)
    t.equal(await statusWith(server, res.body.token), 200, 'the token works at once')
    t.equal((await post(server, '/api/v1/session/create', owner.headers)).status, 200, 'the body may be left out')

    const short = await post(server, '/api/v1/session/create', owner.headers, { durationInSeconds: 60 })
    t.equal(partsOf(short.body.token).payload.exp as number - (partsOf(short.body.token).payload.iat as number), 60)
  })

  await t.test('allowedRoutes, at the top level or in config, with negation', async (t) => {
    const owner = await server.account()
    for (const body of [{ allowedRoutes: ['bot/**', '!bot/*/delete'] }, { config: { allowedRoutes: ['/api/v1/bot/**', '!bot/*/delete'] } }]) {
      const { body: session } = await post(server, '/api/v1/session/create', owner.headers, body)
      const token = session.token as string
      t.equal(await statusWith(server, token, '/api/v1/bot/list'), 200, `${JSON.stringify(body)}: bot/list`)
      t.equal(await statusWith(server, token, '/v1/bot/abc/update'), 200, 'the /v1/ alias too')
      t.equal(await statusWith(server, token, '/api/v1/bot/abc/delete'), 403, 'negated')
      t.equal(await statusWith(server, token, '/api/v1/dataset/list'), 403, 'not listed')
    }
    const res = await post(server, '/api/v1/session/create', owner.headers, { allowedRoutes: ['bot/**'], config: { allowedRoutes: ['bot/**'] } })
    t.match(res, { status: 400, body: { code: 'INVALID_REQUEST', message: /not both/ } })
  })

  await t.test('bodies are validated: unknown fields and wrong types are 400', async (t) => {
    const owner = await server.account()
    for (const body of [
      { durationInSeconds: '60' }, { durationInSeconds: 0 }, { durationInSeconds: 1.5 }, { extra: true },
      { config: { allowedRoutes: ['bot/**'], extra: 1 } }, { allowedRoutes: 'bot/**' }, { allowedRoutes: [1] },
      { allowedRoutes: ['has space'] }, { allowedRoutes: Array.from({ length: 65 }, () => 'bot/**') }
    ]) {
      const res = await post(server, '/api/v1/session/create', owner.headers, body)
      t.match(res, { status: 400, body: { code: 'INVALID_REQUEST' } }, JSON.stringify(body).slice(0, 60))
    }
    const tooLong = await post(server, '/api/v1/session/create', owner.headers, { durationInSeconds: 86_401 })
    t.match(tooLong, { status: 400, body: { code: 'INVALID_REQUEST', message: /from 1 to 86400/ } }, 'above the operator maximum')
  })

  await t.test('only a full-access secret key may mint: never a session token, a scoped key, or nobody', async (t) => {
    const owner = await server.account()
    const { body: session } = await post(server, '/api/v1/session/create', owner.headers, {})
    const bySession = await post(server, '/api/v1/session/create', bearer(session.token), {})
    t.match(bySession, { status: 403, body: { code: 'NOT_AUTHORIZED' } }, 'a session token cannot mint a session')
    t.equal(await statusWith(server, session.token, '/api/v1/token/create'), 403, 'nor a key')
    t.equal((await post(server, '/api/v1/token/create', bearer(session.token), {})).status, 403)
    t.equal((await post(server, `/api/v1/session/${session.id as string}/delete`, bearer(session.token), {})).status, 403)

    const scoped = await server.account({ scopes: ['manage'] })
    t.match(await post(server, '/api/v1/session/create', scoped.headers, {}), { status: 403, body: { code: 'NOT_AUTHORIZED' } },
      'a scoped key cannot trade itself for a full-rights session')

    const anonymous = await post(server, '/api/v1/session/create', {}, {})
    t.match(anonymous, { status: 401, body: { message: 'Not authenticated', code: 'NOT_AUTHENTICATED' } })
    t.match(anonymous.headers['www-authenticate'], /^Bearer realm=/)
  })

  await t.test('impersonation: a parent mints for the child it runs as; a session token may not run as anyone', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const res = await post(server, '/api/v1/session/create', { ...parent.headers, 'x-runas-user-id': child.id }, {})
    t.equal(res.status, 200)
    t.equal(partsOf(res.body.token).payload.sub, child.id, 'the session is the child\'s')

    const { body: session } = await post(server, '/api/v1/session/create', parent.headers, {})
    const refusal = await server.app.inject({ method: 'POST', url: '/api/v1/bot/list', headers: { ...bearer(session.token), 'x-runas-user-id': child.id } })
    const stranger = await server.app.inject({ method: 'POST', url: '/api/v1/bot/list', headers: { ...parent.headers, 'x-runas-user-id': 'usr_00000000000000000000' } })
    t.equal(await statusWith(server, session.token, '/api/v1/bot/list', { 'x-runas-user-id': child.id }), 403)
    t.equal(refusal.statusCode, stranger.statusCode, 'the same refusal as any other impersonation refusal')
    t.equal(refusal.body, stranger.body)
    t.same(stableHeaders(refusal.headers), stableHeaders(stranger.headers))
  })

  await t.test('POST /api/v1/partner/user/{id}/session/create: a parent for its direct child only', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const grandchild = await server.account({ parentId: child.id })
    const otherParent = await server.account()
    const othersChild = await server.account({ parentId: otherParent.id })
    const deleted = await server.account({ parentId: parent.id })
    await store.deleteUser(deleted.id)
    const disabled = await server.account({ parentId: parent.id })
    await store.updateUser(disabled.id, { disabled: true })

    const res = await post(server, `/api/v1/partner/user/${child.id}/session/create`, parent.headers, { durationInSeconds: 120, config: { allowedRoutes: ['bot/**'] } })
    t.equal(res.status, 200)
    t.match(partsOf(res.body.token).payload, { sub: child.id, allowedRoutes: ['bot/**'] })
    t.equal(await statusWith(server, res.body.token), 200)
    t.equal((await post(server, `/api/v1/partner/user/${child.id}/session/create`, parent.headers, { allowedRoutes: [] })).status, 400,
      'allowedRoutes only in config here')

    const answers = []
    for (const id of [othersChild.id, grandchild.id, deleted.id, disabled.id, 'usr_00000000000000000000', parent.id]) {
      answers.push(await post(server, `/api/v1/partner/user/${id}/session/create`, parent.headers, {}))
    }
    for (const answer of answers) t.same({ status: answer.status, body: answer.body }, { status: 404, body: { message: 'Not found', code: 'NOT_FOUND' } })
    t.same(new Set(answers.map((a) => JSON.stringify(stableHeaders(a.headers)))).size, 1, 'every refusal looks the same')
  })

  await t.test('POST /api/v1/session/{id}/delete: own sessions only, refused at once', async (t) => {
    const owner = await server.account()
    const stranger = await server.account()
    const { body: session } = await post(server, '/api/v1/session/create', owner.headers, {})
    t.equal(await statusWith(server, session.token), 200, 'works, and is cached')

    for (const id of [session.id, 'ses_00000000000000000000', 'nonsense']) {
      t.match(await post(server, `/api/v1/session/${id as string}/delete`, stranger.headers, {}), { status: 404, body: { code: 'NOT_FOUND' } })
    }
    t.equal(await statusWith(server, session.token), 200, 'a stranger cannot end it')

    const res = await post(server, `/api/v1/session/${session.id as string}/delete`, owner.headers)
    t.same({ status: res.status, body: res.body }, { status: 200, body: { id: session.id } })
    t.equal(await statusWith(server, session.token), 401, 'refused at once')
    t.equal((await post(server, `/api/v1/session/${session.id as string}/delete`, owner.headers)).status, 200, 'ending it again is harmless')
  })

  await t.test('deleting or disabling a child through the API stops its sessions at once', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const { body: session } = await post(server, `/api/v1/partner/user/${child.id}/session/create`, parent.headers, {})
    t.equal(await statusWith(server, session.token), 200)
    t.equal((await post(server, `/api/v1/partner/user/${child.id}/delete`, parent.headers, {})).status, 200)
    t.equal(await statusWith(server, session.token), 401)
  })

  await t.test('GET /.well-known/jwks.json: public keys, no credential needed, cacheable', async (t) => {
    const owner = await server.account()
    const { body: session } = await post(server, '/api/v1/session/create', owner.headers, {})
    const res = await server.app.inject({ url: '/.well-known/jwks.json' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/jwk-set\+json/)
    t.equal(res.headers['cache-control'], 'public, max-age=300')
    const { keys } = res.json()
    t.ok(keys.some((k: { kid: string }) => k.kid === partsOf(session.token).header.kid))
    for (const key of keys) t.same(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
  })

  await t.test('@chatbotkit/sdk: partner.user.session.create', async (t) => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    const baseUrl = await server.app.listen({ host: '127.0.0.1', port: 0 })
    const sdk = new ChatBotKit({ secret: parent.token, baseUrl, retries: 0 })
    const session = await sdk.partner.user.session.create(child.id, { durationInSeconds: null, config: { allowedRoutes: ['bot/**'] } })
    t.same(Object.keys(session).sort(), ['expiresAt', 'id', 'token'])
    t.match(partsOf(session.token).payload, { sub: child.id, allowedRoutes: ['bot/**'] })
    t.equal(await statusWith(server, session.token, '/api/v1/bot/list'), 200)
    t.equal(await statusWith(server, session.token, '/api/v1/dataset/list'), 403)
    await t.rejects(sdk.partner.user.session.create('usr_00000000000000000000', {}), { code: 'NOT_FOUND' })
    await t.rejects(new ChatBotKit({ secret: session.token, baseUrl, retries: 0 }).partner.user.session.create(child.id, {}),
      { code: 'NOT_AUTHORIZED' }, 'a session token cannot mint')
  })

  await t.test('a 2-second session is refused after 3 s', async (t) => {
    const owner = await server.account()
    const { body: session } = await post(server, '/api/v1/session/create', owner.headers, { durationInSeconds: 2 })
    t.equal(await statusWith(server, session.token), 200)
    server.advance(3)
    t.equal(await statusWith(server, session.token), 401)
  })
}))
