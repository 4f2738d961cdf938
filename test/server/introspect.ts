/**
 * RFC 7662 token introspection at POST /oauth2/introspect, through real HTTP.
 */
import t from 'tap'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { errorBody } from '../../src/errors.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, stableHeaders, testServer } from '../helpers/server.js'

const FORM = 'application/x-www-form-urlencoded'

interface Answer { status: number; headers: Record<string, string>; body: string }

t.test('token introspection (RFC 7662)', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const base = await server.app.listen({ host: '127.0.0.1', port: 0 })
  const admin = await server.account({ role: 'admin' })
  const introspect = async (body: string | null, headers: Record<string, string> = admin.headers, type = FORM): Promise<Answer> => {
    const res = await fetch(`${base}/oauth2/introspect`, {
      method: 'POST', headers: { ...headers, ...(body === null ? {} : { 'content-type': type }) }, ...(body === null ? {} : { body })
    })
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }
  }
  const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString()

  await t.test('the caller authenticates, and the policy lets only admins introspect', async (t) => {
    const user = await server.account()
    const narrowAdmin = await server.account({ role: 'admin', scopes: ['read'] })
    const adminSession = await server.sessions.mint({ userId: admin.id })
    const body = form({ token: user.token })

    const none = await introspect(body, {})
    t.equal(none.status, 401)
    t.equal(none.body, errorBody('NOT_AUTHENTICATED'))
    t.equal(none.headers['www-authenticate'], 'Bearer realm="keygate"')
    const bad = await introspect(body, bearer(generateSecretKey().key))
    t.equal(bad.status, 401)
    t.equal(bad.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_token"')
    for (const [who, headers] of [['a user\'s key', user.headers], ['an admin\'s read-scoped key', narrowAdmin.headers], ['an admin\'s session', bearer(adminSession.token)]] as const) {
      const refused = await introspect(body, headers)
      t.equal(refused.status, 403, who)
      t.equal(refused.body, errorBody('NOT_AUTHORIZED'), who)
    }
    t.equal((await introspect('token=%', {})).status, 401, 'the caller is checked before the body is looked at')
  })

  await t.test('400 invalid_request for anything but one token in a form', async (t) => {
    for (const [what, body, type] of [
      ['JSON', JSON.stringify({ token: admin.token }), 'application/json'],
      ['text', `token=${admin.token}`, 'text/plain'],
      ['no body', null, FORM],
      ['no token', form({ token_type_hint: 'access_token' }), FORM],
      ['an empty token', 'token=', FORM],
      ['the token twice', `token=${admin.token}&token=${admin.token}`, FORM],
      ['the hint twice', `token=${admin.token}&token_type_hint=a&token_type_hint=b`, FORM]
    ] as const) {
      const res = await introspect(body, admin.headers, type)
      t.equal(res.status, 400, what)
      t.match(JSON.parse(res.body), { error: 'invalid_request', error_description: String }, what)
      t.equal(res.headers['cache-control'], 'no-store', what)
    }
  })

  await t.test('anything not active is exactly {"active":false}, whatever the cause', async (t) => {
    const revoked = await server.account()
    await store.revokeKey(revoked.keyId)
    const expired = await server.account()
    await store.setKeyExpiry(expired.keyId, new Date(Date.now() - 1000))
    const disabled = await server.account()
    await store.updateUser(disabled.id, { disabled: true })
    const deleted = await server.account()
    const deletedSession = await server.sessions.mint({ userId: deleted.id })
    await store.deleteUser(deleted.id)
    const ended = await server.sessions.mint({ userId: admin.id })
    await server.sessions.end(ended.id, admin.id)
    const forged = `${admin.token.slice(0, -1)}${admin.token.endsWith('A') ? 'B' : 'A'}`

    const answers = new Set<string>()
    for (const [cause, token, hint] of [
      ['unknown key', generateSecretKey().key, undefined],
      ['revoked key', revoked.token, 'access_token'],
      ['expired key', expired.token, undefined],
      ['disabled account\'s key', disabled.token, 'refresh_token'],
      ['deleted account\'s key', deleted.token, undefined],
      ['deleted account\'s session', deletedSession.token, undefined],
      ['ended session', ended.token, 'access_token'],
      ['bad checksum', forged, undefined],
      ['not a token', 'hello world', undefined],
      ['a JWT of no one', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln', undefined],
      ['a bearer header instead', `Bearer ${admin.token}`, undefined],
      ['a live key with a space after it', `${admin.token} `, undefined],
      ['a live key with NBSP after it', `${admin.token}\u00a0`, undefined],
      ['unicode', 'sk-\u00e9', 'secret_key']
    ] as const) {
      const res = await introspect(form(hint === undefined ? { token } : { token, token_type_hint: hint }))
      t.equal(res.status, 200, cause)
      t.equal(res.body, '{"active":false}', cause)
      t.equal(res.headers['cache-control'], 'no-store', cause)
      answers.add(JSON.stringify([res.status, stableHeaders(res.headers), res.body]))
    }
    t.equal(answers.size, 1, 'the same bytes and headers for every cause')
  })

  await t.test('an active key: who, scopes, times, and Keygate\'s own facts', async (t) => {
    const owner = await server.account()
    const scoped = await server.account({ scopes: ['bot:read', 'write'], expiresInSeconds: 3600 })
    const res = await introspect(form({ token: owner.token, token_type_hint: 'access_token' }), admin.headers, `${FORM}; charset=UTF-8`)
    t.equal(res.status, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    t.match(res.headers['content-type'], /^application\/json/)
    const key = await store.findKeyById(owner.keyId)
    t.same(JSON.parse(res.body), {
      active: true,
      sub: owner.id,
      scope: '*',
      client_id: owner.keyId,
      token_type: 'Bearer',
      iat: Math.floor((key?.createdAt.getTime() ?? 0) / 1000),
      keygate: { credential: 'secret_key', allowedRoutes: null, restrictions: [] }
    }, 'a full-access key that never expires: scope *, no exp')
    const narrow = JSON.parse((await introspect(form({ token: scoped.token }))).body)
    t.equal(narrow.scope, 'bot:read write')
    const scopedKey = await store.findKeyById(scoped.keyId)
    t.equal(narrow.exp, Math.floor((scopedKey?.expiresAt?.getTime() ?? 0) / 1000))
    t.notOk('act' in narrow, 'no actor for a key its owner made')

    const suspended = await server.account()
    await store.updateUser(suspended.id, { restrictions: ['suspended'] })
    const held = JSON.parse((await introspect(form({ token: suspended.token }))).body)
    t.match(held, { active: true, sub: suspended.id, keygate: { restrictions: ['suspended'] } },
      'a suspended account is still authenticated: active, with its restriction')
  })

  await t.test('an active session: its id, expiry and allowed routes', async (t) => {
    const user = await server.account()
    const session = await server.sessions.mint({ userId: user.id, allowedRoutes: ['bot/**'], durationInSeconds: 600 })
    const res = await introspect(form({ token: session.token }))
    const active = JSON.parse(res.body)
    t.match(active, {
      active: true,
      sub: user.id,
      client_id: session.id,
      token_type: 'Bearer',
      exp: Math.floor(session.expiresAt / 1000),
      iat: Number,
      keygate: { credential: 'session', allowedRoutes: ['bot/**'], restrictions: [] }
    })
    t.notOk('scope' in active, 'a session has routes, not scopes')
    t.ok(active.exp - active.iat === 600, 'iat is the session\'s creation')
  })

  await t.test('a store fault is a 503, never {"active":false}', async (t) => {
    t.equal((await introspect(form({ token: admin.token }))).status, 200, 'the caller\'s own key is cached')
    const query = store.database.query.bind(store.database)
    const read = store.database.read.bind(store.database)
    const { StoreUnavailableError } = await import('../../src/store/errors.js')
    store.database.query = async () => { throw new StoreUnavailableError('down') }
    store.database.read = async () => { throw new StoreUnavailableError('down') }
    const restore = (): void => { store.database.query = query; store.database.read = read }
    t.teardown(restore)
    const down = await introspect(form({ token: generateSecretKey().key }))
    t.equal(down.status, 503)
    t.equal(down.body, errorBody('SERVICE_UNAVAILABLE'))
    restore()
    t.equal((await introspect(form({ token: generateSecretKey().key }))).body, '{"active":false}', 'and back with the store')
  })
}))
