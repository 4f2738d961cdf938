import t from 'tap'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import type { Authorizer } from '../../src/authorizer/index.js'
import { testDatabases } from '../helpers/databases.js'
import { sharedInstances, type Instance } from '../helpers/instances.js'
import { until } from '../helpers/until.js'

/**
 * A right taken away on one instance is gone on every instance at once: the
 * caches' TTLs here are ten minutes, so only the notifications can explain a
 * refusal within the bound. CI asserts the invariant within a generous bound;
 * `bench/revocation.ts` measures how fast it is.
 */
const BOUND_MS = 5_000
const LONG = { max: 1000, ttlMs: 600_000, negativeTtlMs: 600_000 }

const request = (token: string, headers: Record<string, string> = {}, path = '/api/v1/bot/list') => ({
  method: 'GET', path, scheme: 'https' as const, headers: { authorization: `Bearer ${token}`, ...headers }
})

async function statuses (instances: Instance[], req: Parameters<Authorizer['authorize']>[0]): Promise<number[]> {
  return await Promise.all(instances.map(async ({ authorizer }) => (await authorizer.authorize(req)).status))
}

/** Polls every instance until each answers `status`; fails after BOUND_MS. */
async function everyInstance (instances: Instance[], req: Parameters<Authorizer['authorize']>[0], status: number): Promise<void> {
  let last: number[] = []
  const deadline = Date.now() + BOUND_MS
  while (Date.now() < deadline) {
    last = await statuses(instances, req)
    if (last.every((s) => s === status)) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`not every instance answers ${status} within ${BOUND_MS} ms: ${last.join(', ')}`)
}

for (const driver of testDatabases()) {
  t.test(`three instances on one ${driver.name} database`, async (t) => {
    const { setup, instances } = await sharedInstances(t, driver, 3, { cache: LONG })
    const now = new Date()

    t.test('revoke on one instance: every instance refuses', async (t) => {
      const user = await createAccount(setup, { email: 'revoke@example.com' })
      const key = await issueKey(setup, { userId: user.id }, now)
      t.same(await statuses(instances, request(key.token)), [200, 200, 200], 'cached everywhere')
      await instances[0]!.store.revokeKey(key.id)
      await everyInstance(instances, request(key.token), 401)
      t.ok(instances.every(({ events }) => events.some((e) => e.type === 'invalidated' && e.change.type === 'key' && e.change.id === key.id)))
    })

    t.test('roll deadline reached: the old key is refused everywhere', async (t) => {
      const user = await createAccount(setup, { email: 'roll@example.com' })
      const key = await issueKey(setup, { userId: user.id }, now)
      t.same(await statuses(instances, request(key.token)), [200, 200, 200])
      await instances[1]!.store.setKeyExpiry(key.id, new Date(Date.now() - 1000))
      await everyInstance(instances, request(key.token), 401)
    })

    t.test('restrict, disable, delete an account', async (t) => {
      const user = await createAccount(setup, { email: 'flags@example.com' })
      const key = await issueKey(setup, { userId: user.id }, now)
      const write = request(key.token, {}, '/api/v1/bot/create')
      t.same(await statuses(instances, write), [200, 200, 200])
      await setup.addRestriction(user.id, 'read-only')
      await everyInstance(instances, write, 403)
      await setup.removeRestriction(user.id, 'read-only')
      await everyInstance(instances, write, 200)
      await setup.addRestriction(user.id, 'suspended')
      await everyInstance(instances, request(key.token), 403)
      await setup.removeRestriction(user.id, 'suspended')
      await everyInstance(instances, request(key.token), 200)
      await setup.updateUser(user.id, { disabled: true })
      await everyInstance(instances, request(key.token), 401)
      await setup.updateUser(user.id, { disabled: false })
      await everyInstance(instances, request(key.token), 200)
      await setup.deleteUser(user.id)
      await everyInstance(instances, request(key.token), 401)
    })

    t.test('a child deleted or moved to another parent: impersonation refused everywhere', async (t) => {
      const parent = await createAccount(setup, { email: 'parent@example.com' })
      const other = await createAccount(setup, { email: 'other-parent@example.com' })
      const key = await issueKey(setup, { userId: parent.id }, now)
      const moved = await createAccount(setup, { email: 'moved@example.com', parentId: parent.id })
      const deleted = await createAccount(setup, { email: 'deleted@example.com', parentId: parent.id })
      for (const [child, header] of [[moved, { 'x-runas-user-id': moved.id }], [deleted, { 'x-runas-child-user-email': 'DELETED@example.com' }]] as const) {
        t.same(await statuses(instances, request(key.token, header)), [200, 200, 200], `impersonating ${child.email}`)
      }
      await setup.database.query('UPDATE keygate_users SET parent_id = $2 WHERE id = $1', [moved.id, other.id])
      await everyInstance(instances, request(key.token, { 'x-runas-user-id': moved.id }), 403)
      await setup.deleteUser(deleted.id)
      await everyInstance(instances, request(key.token, { 'x-runas-child-user-email': 'deleted@example.com' }), 403)
    })

    t.test("credentials a parent minted for its child: the parent's restriction, disabling, deletion or losing the child refuses them everywhere", async (t) => {
      const other = await createAccount(setup, { email: 'actor-other@example.com' })
      const cases = [
        ['restricted', async (parentId: string) => { await setup.addRestriction(parentId, 'impersonation') }, 403],
        ['disabled', async (parentId: string) => { await setup.updateUser(parentId, { disabled: true }) }, 401],
        ['deleted', async (parentId: string) => { await setup.deleteUser(parentId) }, 401],
        ['no longer the parent', async (_parentId: string, childId: string) => {
          await setup.database.query('UPDATE keygate_users SET parent_id = $2 WHERE id = $1', [childId, other.id])
        }, 401]
      ] as const
      for (const [name, change, status] of cases) {
        const parent = await createAccount(setup, { email: `actor-${name.replaceAll(' ', '-')}@example.com` })
        const child = await createAccount(setup, { email: `actor-child-${name.replaceAll(' ', '-')}@example.com`, parentId: parent.id })
        const own = await issueKey(setup, { userId: child.id }, now)
        const minted = await issueKey(setup, { userId: child.id, actorId: parent.id }, now)
        const session = await instances[0]!.sessions.mint({ userId: child.id, actorId: parent.id })
        for (const token of [minted.token, session.token]) {
          t.same(await statuses(instances, request(token)), [200, 200, 200], `${name}: cached everywhere`)
        }
        // The change touches only the parent's row (or the child's parent): nothing about the key or the session.
        await change(parent.id, child.id)
        await everyInstance(instances, request(minted.token), status)
        await everyInstance(instances, request(session.token), status)
        t.same(await statuses(instances, request(own.token)), [200, 200, 200], `${name}: the child's own key still works`)
      }
    })

    t.test('what was "not found" is found at once once created', async (t) => {
      const parent = await createAccount(setup, { email: 'later-parent@example.com' })
      const secret = generateSecretKey()
      t.same(await statuses(instances, request(secret.key)), [401, 401, 401], 'unknown key, negatively cached')
      await setup.createKey({ userId: parent.id, hash: secret.hash, prefix: secret.prefix })
      await everyInstance(instances, request(secret.key), 200)

      const byEmail = request(secret.key, { 'x-runas-child-user-email': 'late-child@example.com' })
      t.same(await statuses(instances, byEmail), [403, 403, 403], 'no such child yet, negatively cached')
      await createAccount(setup, { email: 'late-child@example.com', parentId: parent.id })
      await everyInstance(instances, byEmail, 200)
    })

    t.test('a session ended on one instance is refused by every instance', async (t) => {
      const user = await createAccount(setup, { email: 'session@example.com' })
      const minted = await instances[0]!.sessions.mint({ userId: user.id })
      t.same(await statuses(instances, request(minted.token)), [200, 200, 200])
      await instances[2]!.sessions.end(minted.id, user.id)
      await everyInstance(instances, request(minted.token), 401)
    })

    t.test('a user disabled or deleted through one instance: their session tokens are refused by every instance', async (t) => {
      for (const change of ['disabled', 'deleted'] as const) {
        const user = await createAccount(setup, { email: `session-${change}@example.com` })
        const minted = await instances[0]!.sessions.mint({ userId: user.id })
        t.same(await statuses(instances, request(minted.token)), [200, 200, 200], `${change}: verified and cached everywhere`)
        // Through instance 1's store: only the store's announcement can tell instances 0 and 2.
        if (change === 'disabled') await instances[1]!.store.updateUser(user.id, { disabled: true })
        else await instances[1]!.store.deleteUser(user.id)
        await everyInstance(instances, request(minted.token), 401)
        t.ok(instances.every(({ events }) => events.some((e) => e.type === 'invalidated' && e.change.type === 'user' && e.change.id === user.id)),
          `${change}: every instance heard of it`)
      }
    })

    t.test('a signing key rotated on one instance: every instance publishes and accepts the new key before seeing a token', async (t) => {
      const user = await createAccount(setup, { email: 'rotation@example.com' })
      await instances[0]!.sessions.mint({ userId: user.id })
      const kids = async (): Promise<string[][]> => await Promise.all(instances.map(async ({ sessions }) => (await sessions.jwks()).keys.map((k) => k.kid)))
      const before = await kids()
      t.ok(before.every((set) => set.length === before[0]!.length), 'one key set everywhere, loaded')
      const rotated = await instances[0]!.sessions.rotate()
      // Only the JWKS is asked: no token with the new kid, which would re-read the key set anyway. The key sets are re-read
      // every 60 s otherwise, so nothing but the notification explains the new key within the bound.
      let published = false
      await until(() => { void kids().then((sets) => { published = sets.every((set) => set.includes(rotated.kid)) }); return published }, BOUND_MS)
      const minted = await instances[0]!.sessions.mint({ userId: user.id })
      t.same(await statuses(instances, request(minted.token)), [200, 200, 200], 'tokens signed with it are accepted everywhere')
    })

    if (driver.name === 'pg') {
      t.test('a lost LISTEN connection: every instance clears its caches once it listens again', async (t) => {
        const user = await createAccount(setup, { email: 'resync@example.com' })
        const key = await issueKey(setup, { userId: user.id }, now)
        const session = await instances[0]!.sessions.mint({ userId: user.id })
        t.same(await statuses(instances, request(key.token)), [200, 200, 200])
        t.same(await statuses(instances, request(session.token)), [200, 200, 200])
        // Ended behind Keygate's back, with no notification: only clearing the caches can show it.
        await setup.database.query('UPDATE keygate_sessions SET revoked_at = now() WHERE id = $1', [session.id])
        t.same(await statuses(instances, request(session.token)), [200, 200, 200], 'still cached')
        const before = instances.map(({ events }) => events.filter((e) => e.type === 'resync').length)
        await setup.database.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
        // Revoked while the instances may not be listening: the notification may be lost, the resync is not.
        await setup.revokeKey(key.id)
        await until(() => instances.every(({ events }, i) => events.filter((e) => e.type === 'resync').length > before[i]!), BOUND_MS)
        await everyInstance(instances, request(key.token), 401)
        await everyInstance(instances, request(session.token), 401)
      })
    }
  })
}
