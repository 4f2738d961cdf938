import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { CONSOLE_CSP } from '../../src/server/routes/console.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, testServer, type TestServer } from '../helpers/server.js'

interface SignedIn { cookie: string; csrf: string; setCookie: string; body: Record<string, any> }

async function signIn (app: FastifyInstance, key: string, headers: Record<string, string> = {}): Promise<SignedIn> {
  const res = await app.inject({ method: 'POST', url: '/console/api/session', payload: { key }, headers })
  if (res.statusCode !== 200) throw new Error(`sign-in: ${res.statusCode} ${res.body}`)
  const setCookie = String(res.headers['set-cookie'])
  return { cookie: setCookie.split(';')[0] as string, csrf: res.json().csrfToken, setCookie, body: res.json() }
}

/** What forward-auth says of a key, the way a proxy asks. */
async function forwardAuth (server: TestServer, headers: Record<string, string>): Promise<number> {
  return (await server.authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers })).status
}

t.test('console sessions', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store, { console: { idleSeconds: 600, lifetimeSeconds: 3600 } })
  const { app } = server

  await t.test('sign-in with a full-access key gives a cookie of its own kind', async (t) => {
    const parent = await server.account()
    const session = await signIn(app, parent.token)
    t.match(session.setCookie, /^keygate_console=kgc\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=3600$/)
    t.notMatch(session.setCookie, /Secure/, 'plain HTTP: no Secure flag')
    t.notOk(session.setCookie.includes(parent.token), 'the key is not in the cookie')
    t.match(session.body, { account: { id: parent.id, email: parent.email, role: 'user' }, key: { id: parent.keyId }, csrfToken: /^[A-Za-z0-9_-]{43}$/ })

    const listed = await app.inject({ url: '/api/v1/token/list', headers: { cookie: session.cookie } })
    t.equal(listed.statusCode, 200, 'the cookie is a credential on the API')
    t.same(listed.json().items.map((k: { id: string }) => k.id), [parent.keyId])

    const who = await app.inject({ url: '/console/api/session', headers: { cookie: session.cookie } })
    t.equal(who.statusCode, 200)
    t.equal(who.json().csrfToken, session.csrf)
  })

  await t.test('the cookie is refused as a Bearer credential', async (t) => {
    const parent = await server.account()
    const { cookie } = await signIn(app, parent.token)
    const token = cookie.split('=')[1] as string
    const res = await app.inject({ url: '/api/v1/token/list', headers: bearer(token) })
    t.equal(res.statusCode, 401)
    t.equal(await forwardAuth(server, bearer(token)), 401, 'and by forward-auth')
    t.equal(await forwardAuth(server, { cookie }), 401, 'forward-auth reads no cookie')
  })

  await t.test('a state-changing call needs the CSRF token', async (t) => {
    const parent = await server.account()
    const { cookie, csrf } = await signIn(app, parent.token)
    const without = await app.inject({ method: 'POST', url: '/api/v1/token/create', headers: { cookie }, payload: { name: 'x' } })
    t.equal(without.statusCode, 403)
    t.match(without.json(), { code: 'NOT_AUTHORIZED', message: /CSRF/ })
    const wrong = await app.inject({ method: 'POST', url: '/api/v1/token/create', headers: { cookie, 'x-keygate-csrf': csrf.replace(/.$/, (c) => c === 'A' ? 'B' : 'A') }, payload: { name: 'x' } })
    t.equal(wrong.statusCode, 403)
    const right = await app.inject({ method: 'POST', url: '/api/v1/token/create', headers: { cookie, 'x-keygate-csrf': csrf }, payload: { name: 'made in the console' } })
    t.equal(right.statusCode, 200)
    t.equal(await forwardAuth(server, bearer(right.json().token)), 200, 'the new key works')
    const signOut = await app.inject({ method: 'POST', url: '/console/api/session/end', headers: { cookie } })
    t.equal(signOut.statusCode, 403, 'sign-out too needs it')
  })

  await t.test('it carries the rights of its key, never more', async (t) => {
    const parent = await server.account()
    const { cookie, csrf } = await signIn(app, parent.token)
    const headers = { cookie, 'x-keygate-csrf': csrf }
    const operator = await app.inject({ url: '/admin/v1/audit/list', headers })
    t.equal(operator.statusCode, 403, 'a user account is no operator in the console either')
    const wider = await app.inject({ method: 'POST', url: '/api/v1/token/create', headers, payload: { scopes: ['*'] } })
    t.equal(wider.statusCode, 200, 'a full-access key may mint full access')

    const revoked = await app.inject({ method: 'POST', url: `/api/v1/token/${parent.keyId}/delete`, headers })
    t.equal(revoked.statusCode, 200, 'revoking its own key')
    t.equal((await app.inject({ url: '/api/v1/token/list', headers })).statusCode, 401, 'ends the session with it')
    t.equal((await app.inject({ url: '/console/api/session', headers })).statusCode, 401)
  })

  await t.test('keys that may not open a console session', async (t) => {
    const scoped = await server.account({ scopes: ['bot:read'] })
    const res = await app.inject({ method: 'POST', url: '/console/api/session', payload: { key: scoped.token } })
    t.equal(res.statusCode, 403)
    t.match(res.json().message, /full-access/)
    const unknown = await app.inject({ method: 'POST', url: '/console/api/session', payload: { key: 'sk-nothing' } })
    t.equal(unknown.statusCode, 401)
    const form = await app.inject({ method: 'POST', url: '/console/api/session', payload: `key=${scoped.token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(form.statusCode, 415, 'a cross-site form cannot sign in')
  })

  await t.test('sign-out ends the session on the server', async (t) => {
    const parent = await server.account()
    const { cookie, csrf } = await signIn(app, parent.token)
    const out = await app.inject({ method: 'POST', url: '/console/api/session/end', headers: { cookie, 'x-keygate-csrf': csrf } })
    t.equal(out.statusCode, 200)
    t.match(String(out.headers['set-cookie']), /^keygate_console=; .*Max-Age=0/)
    t.equal((await app.inject({ url: '/api/v1/token/list', headers: { cookie } })).statusCode, 401, 'the old cookie is dead')
    t.equal((await app.inject({ url: '/console/api/session', headers: { cookie } })).statusCode, 401)
  })

  await t.test('idle and absolute timeouts', async (t) => {
    const parent = await server.account()
    const idle = await signIn(app, parent.token)
    server.advance(601)
    t.equal((await app.inject({ url: '/api/v1/token/list', headers: { cookie: idle.cookie } })).statusCode, 401, 'unused for longer than the idle timeout')

    const busy = await signIn(app, parent.token)
    for (let i = 0; i < 6; i++) {
      server.advance(590)
      t.equal((await app.inject({ url: '/api/v1/token/list', headers: { cookie: busy.cookie } })).statusCode, 200, 'use keeps it alive')
    }
    server.advance(590)
    t.equal((await app.inject({ url: '/api/v1/token/list', headers: { cookie: busy.cookie } })).statusCode, 401, 'but not past its lifetime')
  })

  await t.test('the authorizer decides a console credential as its key, with the sooner expiry', async (t) => {
    const parent = await server.account({ expiresInSeconds: 3600 })
    const now = server.now().getTime()
    const decide = async (expiresAt: number, keyId = parent.keyId) =>
      await server.authorizer.authorize({ method: 'GET', path: '/api/v1/token/list', headers: {}, console: { keyId, issuedAt: now, expiresAt } })
    const allowed = await decide(now + 60_000)
    t.match(allowed, { allow: true, subject: parent.id, credential: { type: 'console_session', id: parent.keyId } })
    t.match(await decide(now - 1), { status: 401, reasons: [{ code: 'credential_expired' }] }, 'the session\'s expiry')
    t.match(await decide(now + 7200_000), { allow: true })
    server.advance(3601)
    t.match(await decide(server.now().getTime() + 7200_000), { status: 401, reasons: [{ code: 'credential_expired' }] }, 'the key\'s, when sooner')
    t.match(await decide(now + 60_000, 'key_00000000000000000000'), { status: 401, reasons: [{ code: 'credential_unknown' }] })
    t.match(await server.authorizer.authorize({ method: 'GET', path: '/api/v1/token/list', headers: {}, console: null }), { status: 401, reasons: [{ code: 'credential_unknown' }] })
    const bearerWins = await server.authorizer.authorize({ method: 'GET', path: '/api/v1/token/list', headers: bearer('sk-x'), console: { keyId: parent.keyId, issuedAt: now, expiresAt: now + 60_000 } })
    t.match(bearerWins, { status: 401, credential: { type: 'malformed' } }, 'an Authorization header decides alone')
  })

  await t.test('the console is served with a strict CSP', async (t) => {
    const page = await app.inject({ url: '/console/' })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    t.equal(page.headers['content-security-policy'], CONSOLE_CSP)
    t.match(CONSOLE_CSP, /frame-ancestors 'none'/)
    t.notMatch(CONSOLE_CSP, /unsafe/)
    t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script')
    const preact = await app.inject({ url: '/console/vendor/hooks.mjs' })
    t.equal(preact.statusCode, 200)
    t.match(preact.headers['content-type'], /^text\/javascript/)
    t.notMatch(preact.body, /from"preact"/, 'bare import made relative')
    t.equal((await app.inject({ url: '/console/../package.json' })).statusCode, 404)
    t.equal((await app.inject({ url: '/console/nothing.js' })).statusCode, 404)
  })
}))

t.test('KEYGATE_CONSOLE=false: no console, and its cookie is no credential', (t) => forEachDatabase(t, async (t, _db, store) => {
  const on = await testServer(t, store)
  const off = await testServer(t, store, { console: false })
  const parent = await on.account()
  const { cookie } = await signIn(on.app, parent.token)
  t.equal((await on.app.inject({ url: '/api/v1/token/list', headers: { cookie } })).statusCode, 200)
  t.equal((await off.app.inject({ url: '/api/v1/token/list', headers: { cookie } })).statusCode, 401)
  t.equal((await off.app.inject({ url: '/console/' })).statusCode, 404)
  t.equal((await off.app.inject({ method: 'POST', url: '/console/api/session', payload: { key: parent.token } })).statusCode, 404)
}))
