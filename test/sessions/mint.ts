import { randomBytes } from 'node:crypto'
import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { newSessions, newUser, partsOf, TestClock } from '../helpers/sessions.js'
import { InvalidSessionRequestError, SESSION_TOKEN_TYPE, SessionUserNotFoundError } from '../../src/sessions/index.js'

t.test('a minted session has the documented shape, claims and header', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const userId = await newUser(store)
  const minted = await sessions.mint({ userId })
  t.same(Object.keys(minted).sort(), ['expiresAt', 'id', 'token'])
  t.match(minted.id, /^ses_[0-9A-Za-z]{20}$/)
  t.equal(minted.expiresAt, clock.now + 900_000, 'default 900 s, in epoch milliseconds')

  const { header, payload } = partsOf(minted.token)
  const [key] = (await sessions.listSigningKeys())
  t.same(header, { alg: 'EdDSA', typ: SESSION_TOKEN_TYPE, kid: key?.kid })
  t.same(payload, {
    iss: 'keygate', aud: 'keygate', sub: userId, iat: clock.now / 1000, exp: clock.now / 1000 + 900, jti: minted.id
  }, 'no allowedRoutes claim when every route is allowed')

  const { rows } = await db.query<Record<string, unknown>>('SELECT * FROM keygate_sessions WHERE id = $1', [minted.id])
  t.equal(rows.length, 1, 'one row per session')
  t.match(rows[0], { user_id: userId, kid: key?.kid, allowed_routes: null, revoked_at: null })
  t.equal((rows[0]?.expires_at as Date).getTime(), minted.expiresAt)
}))

t.test('durations: default, minimum, operator maximum, and refusals', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock, { maxDurationSeconds: 3600, defaultDurationSeconds: 600 })
  const userId = await newUser(store)
  t.equal((await sessions.mint({ userId })).expiresAt, clock.now + 600_000, 'operator default')
  t.equal((await sessions.mint({ userId, durationInSeconds: 1 })).expiresAt, clock.now + 1000, '1 s minimum')
  t.equal((await sessions.mint({ userId, durationInSeconds: 3600 })).expiresAt, clock.now + 3_600_000, 'the maximum itself')
  for (const durationInSeconds of [0, -5, 3601, 1.5, Number.NaN, '60' as unknown as number]) {
    await t.rejects(sessions.mint({ userId, durationInSeconds }), InvalidSessionRequestError, JSON.stringify(durationInSeconds))
  }
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM keygate_sessions')
  t.equal(rows[0]?.n, 3, 'a refused request records nothing')
}))

t.test('the default maximum is 24 hours', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const userId = await newUser(store)
  t.equal((await sessions.mint({ userId, durationInSeconds: 86_400 })).expiresAt, clock.now + 86_400_000)
  await t.rejects(sessions.mint({ userId, durationInSeconds: 86_401 }), InvalidSessionRequestError)
}))

t.test('allowedRoutes are carried in the token and the row', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const userId = await newUser(store)
  const allowedRoutes = ['bot/**', '!bot/*/delete', '/api/v1/dataset/list']
  const minted = await sessions.mint({ userId, allowedRoutes })
  t.same(partsOf(minted.token).payload.allowedRoutes, allowedRoutes)
  t.same((await sessions.verify(minted.token))?.allowedRoutes, allowedRoutes)
  t.same((await sessions.verify((await sessions.mint({ userId, allowedRoutes: [] })).token))?.allowedRoutes, [], 'an empty list allows nothing')

  for (const bad of ['bot/**', ['has space'], [''], [42], ['x'.repeat(201)], Array.from({ length: 65 }, () => 'bot/**')]) {
    await t.rejects(sessions.mint({ userId, allowedRoutes: bad as string[] }), InvalidSessionRequestError, JSON.stringify(bad).slice(0, 40))
  }
  const long = Array.from({ length: 64 }, (_, i) => `resource-${i}/${'x'.repeat(60)}/**`)
  await t.rejects(sessions.mint({ userId, allowedRoutes: long }), { code: 'INVALID_SESSION_REQUEST', message: /longer than 4096/ },
    'globs that would make a token too long to verify are refused at minting')
}))

t.test('no session for an unknown, deleted or disabled user', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  await t.rejects(sessions.mint({ userId: 'usr_00000000000000000000' }), SessionUserNotFoundError)
  const deleted = await newUser(store)
  await store.deleteUser(deleted)
  await t.rejects(sessions.mint({ userId: deleted }), SessionUserNotFoundError)
  const disabled = await newUser(store)
  await store.updateUser(disabled, { disabled: true })
  await t.rejects(sessions.mint({ userId: disabled }), SessionUserNotFoundError)
}))

t.test('the first mint makes the first signing key, once', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  t.same(await sessions.listSigningKeys(), [])
  t.same(await sessions.jwks(), { keys: [] })
  const userId = await newUser(store)
  await Promise.all([sessions.mint({ userId }), sessions.mint({ userId }), newSessions(db, clock).mint({ userId })])
  const keys = await sessions.listSigningKeys()
  t.equal(keys.length, 1, 'concurrent first mints agree on one key')
  t.equal(keys[0]?.state, 'active')
  await t.rejects(newSessions(db, clock, { secret: randomBytes(32) }).mint({ userId }), { code: 'SESSION_CONFIG_INVALID', message: /does not open signing key/ },
    'an instance with another secret cannot sign, and says why')
}))
