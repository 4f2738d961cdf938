import t from 'tap'
import { createAuthorizer, type AuthorizerEvent } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { Store, StoreUnavailableError, type Database } from '../../src/store/index.js'
import { testPolicy } from '../helpers/authorizer.js'
import { forEachDatabase } from '../helpers/databases.js'
import { until } from '../helpers/until.js'

/** The database as the authorizer sees it, failing as the drivers do while `down` holds. */
function failable (db: Database): { db: Database; setDown: (down: boolean) => void } {
  let down = false
  const refuse = (): never => { throw new StoreUnavailableError('store unavailable: connection refused (test)') }
  return {
    setDown: (value) => { down = value },
    db: {
      driver: db.driver,
      query: async (sql, params) => { if (down) refuse(); return await db.query(sql, params) },
      read: async (sql, params) => { if (down) refuse(); return await db.read(sql, params) },
      exec: async (sql) => { if (down) refuse(); await db.exec(sql) },
      transaction: async (fn) => { if (down) refuse(); return await db.transaction(fn) },
      listen: async (channel, onPayload, options) => await db.listen(channel, onPayload, options),
      close: async () => {}
    }
  }
}

t.test('stale-if-error never serves a key past its own expiry', (t) => forEachDatabase(t, async (t, db, setup) => {
  const clock = { now: Date.now() }
  const events: AuthorizerEvent[] = []
  const store = failable(db)
  const authorizer = await createAuthorizer({
    store: new Store(store.db),
    policy: await testPolicy(),
    clock: () => clock.now,
    // A TTL that is over at once, so that every lookup below asks the store; a stale window longer than the key's life.
    cache: { ttlMs: 1, staleIfErrorMs: 600_000 },
    onEvent: (event) => { events.push(event) }
  })
  t.teardown(async () => { await authorizer.close() })
  const user = await createAccount(setup, { email: 'stale@example.com' })
  const key = await issueKey(setup, { userId: user.id, expiresInSeconds: 60 }, new Date(clock.now))
  await until(() => events.some((e) => e.type === 'invalidated' && e.change.type === 'key' && e.change.id === key.id))
  const decide = async (): Promise<{ status: number; reasons: Array<{ code: string }> }> => await authorizer.authorize({
    method: 'GET', path: '/api/v1/bot/list', scheme: 'https', headers: { authorization: `Bearer ${key.token}` }
  })

  t.equal((await decide()).status, 200, 'found, and cached')
  const cachedAt = performance.now()
  await until(() => performance.now() > cachedAt + 1)
  store.setDown(true)
  clock.now += 30_000
  t.equal((await decide()).status, 200, 'the store down, 30 s before the key expires: served stale')
  t.ok(events.some((e) => e.type === 'stale'), 'and reported as stale')
  clock.now += 31_000
  t.match(await decide(), { status: 401, reasons: [{ code: 'credential_expired' }] }, 'past its expiry, though within the stale window: refused')
  store.setDown(false)
  t.match(await decide(), { status: 401, reasons: [{ code: 'credential_expired' }] }, 'and with the store back')
}))
