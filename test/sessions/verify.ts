import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { createAuthorizer } from '../../src/authorizer/index.js'
import { PolicyEngine } from '../../src/policy/engine.js'
import { SessionNotFoundError } from '../../src/sessions/index.js'
import { StoreUnavailableError, type Database } from '../../src/store/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { newSessions, newUser, spy, TestClock } from '../helpers/sessions.js'

const policy = await PolicyEngine.fromBundle()

function asBearer (token: string): { method: string, path: string, headers: Record<string, string> } {
  return { method: 'POST', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${token}` } }
}

t.test('a valid token verifies to the facts of its session', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const userId = await newUser(store)
  const minted = await sessions.mint({ userId, allowedRoutes: ['bot/**'] })
  t.same(await sessions.verify(minted.token), {
    id: minted.id, userId, actorId: null, expiresAt: minted.expiresAt, issuedAt: clock.now, revoked: false, allowedRoutes: ['bot/**']
  })
  const authorizer = await createAuthorizer({ store, policy, sessions, clock: clock.read })
  const decision = await authorizer.authorize(asBearer(minted.token))
  t.match(decision, { allow: true, status: 200, subject: userId, actor: null, credential: { type: 'session', id: minted.id } })

  const childId = await newUser(store, userId)
  const forChild = await sessions.mint({ userId: childId, actorId: userId })
  t.same(await sessions.verify(forChild.token), {
    id: forChild.id, userId: childId, actorId: userId, expiresAt: forChild.expiresAt, issuedAt: clock.now, revoked: false, allowedRoutes: null
  }, 'a session minted for a child records its parent as the actor')
  t.match(await authorizer.authorize(asBearer(forChild.token)), { allow: true, subject: childId, actor: userId })
  await t.rejects(sessions.mint({ userId: childId, actorId: childId }), TypeError, 'an account is never its own actor')
}))

t.test('expiry: a 2-second session is refused after 3 s', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const authorizer = await createAuthorizer({ store, policy, sessions, clock: clock.read })
  const { token } = await sessions.mint({ userId: await newUser(store), durationInSeconds: 2 })
  const spies = spy(t, db)

  clock.advance(1000)
  t.equal((await authorizer.authorize(asBearer(token))).status, 200, 'alive after 1 s')
  spies.reset()
  t.equal((await authorizer.authorize(asBearer(token))).status, 200)
  t.equal(spies.queries, 0, 'the second use is served from the verified-token cache')

  clock.advance(2000)
  spies.reset()
  const expired = await authorizer.authorize(asBearer(token))
  t.match(expired, { status: 401, reasons: [{ code: 'credential_expired' }] }, 'refused after 3 s')
  t.equal(spies.queries, 1, 'the cache never serves an entry past exp: the session row is read again')

  clock.advance(5000)
  t.same(await sessions.check(token), { ok: false, reason: 'expired' }, 'past the clock tolerance the token itself is refused')
  t.equal((await authorizer.authorize(asBearer(token))).status, 401)
}))

t.test('the verified-token cache is bounded in time and size', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock, { cache: { max: 2, ttlMs: 10_000 } })
  const userId = await newUser(store)
  const tokens = await Promise.all([1, 2, 3].map(async () => (await sessions.mint({ userId })).token))
  const spies = spy(t, db)
  for (const token of tokens) await sessions.verify(token)
  t.equal(spies.queries, 3, 'each token read once')

  spies.reset()
  await sessions.verify(tokens[2] as string)
  await sessions.verify(tokens[1] as string)
  t.equal(spies.queries, 0, 'the two most recent are cached')
  await sessions.verify(tokens[0] as string)
  t.equal(spies.queries, 1, 'the oldest was evicted (max 2)')

  clock.advance(10_001)
  spies.reset()
  await sessions.verify(tokens[0] as string)
  t.equal(spies.queries, 1, 'an entry older than ttlMs is read again')
}))

t.test('ending a session refuses its token at once', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const authorizer = await createAuthorizer({ store, policy, sessions, clock: clock.read })
  const userId = await newUser(store)
  const other = await newUser(store)
  const minted = await sessions.mint({ userId })
  t.equal((await authorizer.authorize(asBearer(minted.token))).status, 200, 'allowed, and now cached')

  await t.rejects(sessions.end(minted.id, other), SessionNotFoundError, 'not another user\'s session')
  t.equal((await authorizer.authorize(asBearer(minted.token))).status, 200, 'still allowed')
  const spies = spy(t, db)
  await t.rejects(sessions.end('../../etc/passwd', userId), SessionNotFoundError)
  t.equal(spies.queries, 0, 'a malformed id is not looked up')

  await sessions.end(minted.id, userId)
  t.match(await sessions.verify(minted.token), { id: minted.id, revoked: true })
  t.match(await authorizer.authorize(asBearer(minted.token)), { status: 401, reasons: [{ code: 'credential_revoked' }] })
  await sessions.end(minted.id, userId)
  t.pass('ending it again is harmless')
}))

t.test('a session ended on another instance is refused here at once', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const here = newSessions(db, clock)
  const there = newSessions(db, clock)
  await here.listen()
  t.teardown(async () => { await here.close() })
  const userId = await newUser(store)
  const minted = await there.mint({ userId })
  t.equal((await here.verify(minted.token))?.revoked, false, 'verified here, and cached')
  await there.end(minted.id, userId)
  const deadline = Date.now() + 2000
  while ((await here.verify(minted.token))?.revoked !== true && Date.now() < deadline) await sleep(10)
  t.equal((await here.verify(minted.token))?.revoked, true, 'the notification dropped the cached entry')
}))

t.test('a lookup that races with ending the session does not cache the stale answer', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const userId = await newUser(store)
  const minted = await sessions.mint({ userId })
  // The session row is a cold lookup: Database.read.
  const query = db.read
  let raced = false
  db.read = async function (...args: Parameters<Database['read']>) {
    const result = await query.apply(db, args)
    if (!raced && args[0].includes('FROM keygate_sessions WHERE id')) {
      raced = true
      // The session ends after its row was read, before the verifier has used it.
      db.read = query
      await sessions.end(minted.id, userId)
    }
    return result
  } as Database['read']
  t.equal((await sessions.verify(minted.token))?.revoked, false, 'the racing lookup answers what it read')
  t.ok(raced)
  t.equal((await sessions.verify(minted.token))?.revoked, true, 'but did not cache it')
}))

t.test('disabling, deleting or suspending the user stops its sessions at once', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const authorizer = await createAuthorizer({ store, policy, sessions, clock: clock.read })
  const cases: Array<[string, (id: string) => Promise<unknown>, number]> = [
    ['disabled', async (id) => await store.updateUser(id, { disabled: true }), 401],
    ['deleted', async (id) => await store.deleteUser(id), 401],
    ['suspended', async (id) => await store.addRestriction(id, 'suspended'), 403]
  ]
  for (const [what, change, status] of cases) {
    const userId = await newUser(store)
    const { token } = await sessions.mint({ userId, durationInSeconds: 3600 })
    t.equal((await authorizer.authorize(asBearer(token))).status, 200, `${what}: allowed before`)
    await change(userId)
    // What the server does on a change (and what the store's notification does on other instances).
    authorizer.invalidate({ userId })
    t.equal((await authorizer.authorize(asBearer(token))).status, status, `${what}: ${status} at once, exp notwithstanding`)
  }
}))

t.test('a store fault is an exception (503), never a refusal', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const authorizer = await createAuthorizer({ store, policy, sessions, clock: clock.read })
  const { token } = await sessions.mint({ userId: await newUser(store) })
  const [query, read] = [db.query, db.read]
  db.query = db.read = async () => { throw new StoreUnavailableError('store unavailable: test') }
  t.teardown(() => { db.query = query; db.read = read })
  await t.rejects(sessions.verify(token), StoreUnavailableError)
  t.equal((await authorizer.authorize(asBearer(token))).status, 503)
}))
