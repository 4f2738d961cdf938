import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createAuthorizer } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { Sessions } from '../../src/sessions/index.js'
import { openStore } from '../../src/store/index.js'
import { createTestDatabase, forEachDatabase } from '../helpers/databases.js'
import { missing } from '../helpers/requires.js'
import { testPolicy } from '../helpers/server.js'
import { until } from '../helpers/until.js'

const request = (token: string) => ({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${token}` } })

t.test('createAuthorizer verifies session tokens without being given a Sessions', (t) => forEachDatabase(t, async (t, db, store) => {
  const authorizer = await createAuthorizer({ store, policy: await testPolicy() })
  t.teardown(async () => { await authorizer.close() })
  // Another instance (the server) mints and ends the session.
  const minter = new Sessions({ db, secret: randomBytes(32) })
  t.teardown(async () => { await minter.close() })
  const user = await createAccount(store, { email: 'embedded@example.com' })
  const session = await minter.mint({ userId: user.id })

  const allowed = await authorizer.authorize(request(session.token))
  t.match(allowed, { allow: true, status: 200, subject: user.id, credential: { type: 'session', id: session.id } })

  // The default verifier listens: the end announced by the other instance reaches it (without
  // it, the verified token would be served from cache for a minute).
  await minter.end(session.id, user.id)
  let status = 200
  await until(() => {
    void authorizer.authorize(request(session.token)).then((d) => { status = d.status })
    return status === 401
  })
  t.equal(status, 401, 'a session ended by another instance stops here too')
}))

t.test('sessions: false accepts secret keys only', (t) => forEachDatabase(t, async (t, db, store) => {
  const authorizer = await createAuthorizer({ store, policy: await testPolicy(), sessions: false })
  t.teardown(async () => { await authorizer.close() })
  const minter = new Sessions({ db, secret: randomBytes(32) })
  t.teardown(async () => { await minter.close() })
  const user = await createAccount(store, { email: 'keys-only@example.com' })
  const session = await minter.mint({ userId: user.id })
  t.match(await authorizer.authorize(request(session.token)), { status: 401, reasons: [{ code: 'credential_unknown' }] })
  const key = await issueKey(store, { userId: user.id })
  t.match(await authorizer.authorize(request(key.token)), { status: 200 })
  await t.rejects(createAuthorizer({ store, policy: await testPolicy(), sessions: {} as never }), TypeError)
}))

t.test('a verify-only Sessions refuses to mint or rotate', (t) => forEachDatabase(t, async (t, db) => {
  const verifier = new Sessions({ db })
  await t.rejects(verifier.mint({ userId: 'usr_00000000000000000000' }), TypeError)
  await t.rejects(verifier.rotate(), TypeError)
  await t.rejects(verifier.rotateIfOlderThan(1), TypeError)
}))

// The README's first example (Embedding: the library), word for word: only a database URL.
t.test('the README example: createAuthorizer({ databaseUrl }) accepts a session token', async (t) => {
  if (missing(t, 'postgres')) return
  const databaseUrl = await createTestDatabase(t)
  const authorizer = await createAuthorizer({ databaseUrl, policy: await testPolicy() })
  t.teardown(async () => { await authorizer.close() })
  const store = await openStore({ databaseUrl })
  t.teardown(async () => { await store.close() })
  const minter = new Sessions({ db: store.database, secret: randomBytes(32) })
  t.teardown(async () => { await minter.close() })
  const user = await createAccount(store, { email: 'readme@example.com' })
  const session = await minter.mint({ userId: user.id })
  t.match(await authorizer.authorize(request(session.token)), { allow: true, subject: user.id })
})
