import t from 'tap'
import { createHash } from 'node:crypto'
import { createTestDatabase, forEachDatabase } from '../helpers/databases.js'
import { missing } from '../helpers/requires.js'
import { until } from '../helpers/until.js'
import { CHANGES_CHANNEL, openStore, type StoreChange } from '../../src/store/index.js'

const hashOf = (secret: string): Buffer => createHash('sha256').update(secret).digest()

t.test('every change that could stale a cache is announced', (t) => forEachDatabase(t, async (t, db, store) => {
  const changes: StoreChange[] = []
  const stop = await store.onChange((change) => changes.push(change))
  const marker = async (): Promise<void> => {
    // Notifications arrive in commit order: once this one is in, every earlier one is too.
    await db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, JSON.stringify({ type: 'user', id: 'marker', parentId: null })])
    await until(() => changes.at(-1)?.id === 'marker')
    changes.pop()
  }

  const parent = await store.createUser({ email: 'parent@example.com' })
  const child = await store.createUser({ email: 'kid@example.com', parentId: parent.id })
  await store.updateUser(child.id, { disabled: true })
  await store.addRestriction(parent.id, 'impersonation')
  await store.removeRestriction(parent.id, 'impersonation')
  await marker()
  t.same(changes.splice(0), [
    { type: 'user', id: parent.id, parentId: null },
    { type: 'user', id: child.id, parentId: parent.id },
    { type: 'user', id: child.id, parentId: parent.id },
    { type: 'user', id: parent.id, parentId: null },
    { type: 'user', id: parent.id, parentId: null }
  ])

  const key = await store.createKey({ userId: child.id, hash: hashOf('k'), prefix: 'sk-k' })
  const keyChange = { type: 'key', id: key.id, userId: child.id, hash: hashOf('k') }
  await store.touchKeys([{ id: key.id, lastUsedAt: new Date(), count: 1 }])
  await store.setKeyExpiry(key.id, new Date('2030-01-01'))
  await store.revokeKey(key.id)
  await marker()
  t.same(changes.splice(0), [keyChange, keyChange, keyChange], 'created, re-dated, revoked; usage is not announced')

  await store.deleteUser(child.id)
  await marker()
  t.same(changes.splice(0), [{ type: 'user', id: child.id, parentId: parent.id }], 'deleted (its only key was revoked already)')

  // Keygate only soft-deletes; rows deleted by hand are announced too (migrations/004_announce_deletes.sql).
  const gone = await store.createUser({ email: 'gone@example.com', parentId: parent.id })
  const goneKey = await store.createKey({ userId: gone.id, hash: hashOf('gone'), prefix: 'sk-g' })
  await marker()
  changes.length = 0
  await db.query('DELETE FROM keygate_keys WHERE id = $1', [goneKey.id])
  await db.query('DELETE FROM keygate_users WHERE id = $1', [gone.id])
  await marker()
  t.same(changes.splice(0), [
    { type: 'key', id: goneKey.id, userId: gone.id, hash: hashOf('gone') },
    { type: 'user', id: gone.id, parentId: parent.id }
  ], 'rows deleted by hand')

  await stop()
  await store.createUser({ email: 'late@example.com' })
  await db.query('SELECT pg_sleep(0.1)')
  t.same(changes, [], 'nothing after stop')
}))

t.test('changes made by one instance reach the others', async (t) => {
  if (missing(t, 'postgres')) return
  const url = await createTestDatabase(t)
  const [writer, reader] = await Promise.all([openStore({ databaseUrl: url }), openStore({ databaseUrl: url })])
  t.teardown(async () => { await Promise.all([writer.close(), reader.close()]) })
  const seen: StoreChange[] = []
  await reader.onChange((change) => seen.push(change))
  const user = await writer.createUser({ email: 'a@example.com' })
  const key = await writer.createKey({ userId: user.id, hash: hashOf('k'), prefix: 'sk-k' })
  await writer.revokeKey(key.id)
  await until(() => seen.length === 3)
  t.match(seen, [{ type: 'user', id: user.id }, { type: 'key', id: key.id }, { type: 'key', id: key.id }])
})

t.test('a lost listening connection: onResync once it listens again, and changes flow again', async (t) => {
  if (missing(t, 'postgres')) return
  const url = await createTestDatabase(t)
  const errors: Error[] = []
  const [writer, reader] = await Promise.all([openStore({ databaseUrl: url }), openStore({ databaseUrl: url, onError: (error) => errors.push(error) })])
  t.teardown(async () => { await Promise.all([writer.close(), reader.close()]) })
  const seen: StoreChange[] = []
  let resyncs = 0
  const stop = await reader.onChange((change) => seen.push(change), { onResync: () => { resyncs++ } })
  await writer.createUser({ email: 'before@example.com' })
  await until(() => seen.length === 1)
  t.equal(resyncs, 0, 'no resync on the first connection')

  await writer.database.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
  await until(() => resyncs === 1)
  t.ok(errors.length >= 1, 'the loss was reported')
  const user = await writer.createUser({ email: 'after@example.com' })
  await until(() => seen.some((change) => change.id === user.id))
  t.equal(resyncs, 1, 'one resync per reconnection')

  await stop()
  await writer.database.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(resyncs, 1, 'nothing after stop')
})
