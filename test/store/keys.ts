import t from 'tap'
import { createHash } from 'node:crypto'
import { forEachDatabase } from '../helpers/databases.js'
import { InvalidValueError, StoreNotFoundError } from '../../src/store/index.js'

const hashOf = (secret: string): Buffer => createHash('sha256').update(secret).digest()

t.test('creating keys and finding them by hash', (t) => forEachDatabase(t, async (t, db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  const expiresAt = new Date('2031-02-03T04:05:06.789Z')
  const key = await store.createKey({ userId: user.id, hash: hashOf('sk-one'), prefix: 'sk-AbC', name: 'ci', scopes: ['bot:read'], expiresAt })
  t.match(key.id, /^key_[0-9A-Za-z]{20}$/)
  t.same(key, {
    id: key.id,
    userId: user.id,
    actorId: null,
    name: 'ci',
    prefix: 'sk-AbC',
    scopes: ['bot:read'],
    createdAt: key.createdAt,
    updatedAt: key.createdAt,
    expiresAt,
    revokedAt: null,
    lastUsedAt: null,
    useCount: 0,
    limits: null
  })
  t.type(key.createdAt, Date)

  const found = await store.findKeyByHash(hashOf('sk-one'))
  t.ok(found !== null && Buffer.isBuffer(found.hash), 'the hash comes back as a Buffer')
  t.same(found, { ...key, hash: hashOf('sk-one'), owner: await store.findUserById(user.id), actor: null }, 'with its owner, in one query')
  t.equal(await store.findKeyByHash(hashOf('sk-unknown')), null)
  t.same(await store.findKeyById(key.id), key)
  t.equal(await store.findKeyById('key_00000000000000000000'), null)
  t.equal(await store.findKeyById(`${key.id}\0`), null)

  const minimal = await store.createKey({ userId: user.id, hash: hashOf('sk-two'), prefix: 'sk-Def' })
  t.match(minimal, { name: null, scopes: null, expiresAt: null })
  t.same((await store.createKey({ userId: user.id, hash: hashOf('sk-three'), prefix: 'sk-G', scopes: [] })).scopes, [],
    'no scopes is not the same as full access (null)')

  // Only the hash and the display prefix are stored.
  const { rows } = await db.query<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'keygate_keys' AND data_type IN ('text', 'bytea', 'ARRAY') ORDER BY 1")
  t.same(rows.map((r) => r.column_name), ['actor_id', 'hash', 'id', 'name', 'prefix', 'scopes', 'user_id'])
}))

t.test('a key a parent minted for its child: its actor comes along with its owner, in one query', (t) => forEachDatabase(t, async (t, _db, store) => {
  const parent = await store.createUser({ email: 'parent@example.com' })
  const child = await store.createUser({ email: 'child@example.com', parentId: parent.id })
  const key = await store.createKey({ userId: child.id, actorId: parent.id, hash: hashOf('sk-minted'), prefix: 'sk-M' })
  t.equal(key.actorId, parent.id)
  t.same(await store.findKeyByHash(hashOf('sk-minted')), {
    ...key, hash: hashOf('sk-minted'), owner: await store.findUserById(child.id), actor: await store.findUserById(parent.id)
  })
  await t.rejects(store.createKey({ userId: child.id, actorId: child.id, hash: hashOf('sk-self'), prefix: 'sk-S' }), InvalidValueError,
    'never its own actor')
  await t.rejects(store.createKey({ userId: child.id, actorId: 'usr_00000000000000000000', hash: hashOf('sk-none'), prefix: 'sk-N' }), StoreNotFoundError,
    'the actor must exist')
  await store.deleteUser(parent.id)
  await t.rejects(store.createKey({ userId: child.id, actorId: parent.id, hash: hashOf('sk-gone'), prefix: 'sk-G' }), StoreNotFoundError,
    'nor be deleted')
  t.match(await store.findKeyByHash(hashOf('sk-minted')), { actorId: parent.id, actor: { id: parent.id, status: 'deleted' } },
    'a deleted actor is still found, as deleted: the policy refuses it')
}))

t.test('a key needs a live owner and a unique 32-byte hash', (t) => forEachDatabase(t, async (t, _db, store) => {
  await t.rejects(store.createKey({ userId: 'usr_00000000000000000000', hash: hashOf('x'), prefix: 'sk-x' }), StoreNotFoundError)
  const user = await store.createUser({ email: 'a@example.com' })
  await store.createKey({ userId: user.id, hash: hashOf('x'), prefix: 'sk-x' })
  await t.rejects(store.createKey({ userId: user.id, hash: hashOf('x'), prefix: 'sk-x' }), 'the hash is unique')
  await t.rejects(store.createKey({ userId: user.id, hash: Buffer.alloc(16), prefix: 'sk-y' }), InvalidValueError)
  await t.rejects(store.createKey({ userId: user.id, hash: hashOf('z'), prefix: '' }), InvalidValueError)
}))

t.test('revoking', (t) => forEachDatabase(t, async (t, _db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  const key = await store.createKey({ userId: user.id, hash: hashOf('k'), prefix: 'sk-k' })
  const at = new Date('2030-01-01T00:00:00.123Z')
  t.equal(await store.revokeKey(key.id, at), true)
  t.equal(await store.revokeKey(key.id), false, 'already revoked')
  t.equal(await store.revokeKey('key_00000000000000000000'), false, 'unknown')
  t.same((await store.findKeyById(key.id))?.revokedAt, at, 'the first revocation time stays')
  t.same((await store.findKeyByHash(hashOf('k')))?.revokedAt, at, 'still found by hash, as revoked')

  const other = await store.createKey({ userId: user.id, hash: hashOf('l'), prefix: 'sk-l' })
  const before = Date.now()
  await store.revokeKey(other.id)
  const revokedAt = (await store.findKeyById(other.id))?.revokedAt?.getTime() ?? 0
  t.ok(revokedAt >= before - 1000 && revokedAt <= Date.now() + 1000, 'defaults to now')
}))

t.test('setKeyExpiry only ever brings the expiry closer', (t) => forEachDatabase(t, async (t, _db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  const key = await store.createKey({ userId: user.id, hash: hashOf('k'), prefix: 'sk-k' })
  const soon = new Date('2030-01-01T00:00:00.000Z')
  const later = new Date('2031-01-01T00:00:00.000Z')
  const sooner = new Date('2029-06-01T00:00:00.000Z')

  t.equal(await store.setKeyExpiry(key.id, later), true)
  t.same((await store.findKeyById(key.id))?.expiresAt, later, 'a key without expiry gets one')
  t.equal(await store.setKeyExpiry(key.id, soon), true)
  t.same((await store.findKeyById(key.id))?.expiresAt, soon, 'shortened')
  t.equal(await store.setKeyExpiry(key.id, later), true)
  t.same((await store.findKeyById(key.id))?.expiresAt, soon, 'never extended')
  await store.revokeKey(key.id)
  t.equal(await store.setKeyExpiry(key.id, sooner), false, 'revoked')
  t.same((await store.findKeyById(key.id))?.expiresAt, soon)
  t.equal(await store.setKeyExpiry('key_00000000000000000000', soon), false, 'unknown')
}))

t.test('touchKeys records usage in a batch', (t) => forEachDatabase(t, async (t, db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  const a = await store.createKey({ userId: user.id, hash: hashOf('a'), prefix: 'sk-a' })
  const b = await store.createKey({ userId: user.id, hash: hashOf('b'), prefix: 'sk-b' })
  const t1 = new Date('2030-01-01T00:00:01.000Z')
  const t2 = new Date('2030-01-01T00:00:02.000Z')
  await store.touchKeys([])
  await store.touchKeys([
    { id: a.id, lastUsedAt: t2, count: 3 },
    { id: a.id, lastUsedAt: t1, count: 2 },
    { id: b.id, lastUsedAt: t1, count: 1 },
    { id: 'key_00000000000000000000', lastUsedAt: t1, count: 9 }
  ])
  // An older report (e.g. from a slower instance) does not move last_used_at back.
  await store.touchKeys([{ id: a.id, lastUsedAt: t1, count: 1 }])
  const usage = async (id: string): Promise<unknown> =>
    (await db.query('SELECT last_used_at, use_count FROM keygate_keys WHERE id = $1', [id])).rows[0]
  t.same(await usage(a.id), { last_used_at: t2, use_count: 6 })
  t.same(await usage(b.id), { last_used_at: t1, use_count: 1 })
  t.same((await store.findKeyById(a.id))?.lastUsedAt, t2)
}))

t.test('touchKeys from several instances at once', (t) => forEachDatabase(t, async (t, db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  // On pg, enough keys that the planner looks each one up by id in the order of the batch
  // (a smaller table is scanned in one fixed order, which hides the problem).
  const size = db.driver === 'pg' ? 30_000 : 100
  await db.query(`INSERT INTO keygate_keys (id, user_id, hash, prefix)
    SELECT 'key_' || lpad(i::text, 20, '0'), $1, sha256(i::text::bytea), 'sk-k' FROM generate_series(1, $2::int) AS i`, [user.id, size])
  await db.query('ANALYZE keygate_keys')
  const ids = Array.from({ length: 50 }, (_, i) => `key_${String(i + 1).padStart(20, '0')}`)
  const at = new Date('2030-01-01T00:00:00.000Z')
  // Batches list the keys in opposite orders: unless rows are locked in one order, pg deadlocks.
  await Promise.all(Array.from({ length: 8 }, async (_, n) => {
    const batch = ids.map((id) => ({ id, lastUsedAt: at, count: 1 }))
    if (n % 2 === 1) batch.reverse()
    await store.touchKeys(batch)
  }))
  const { rows } = await db.query<{ total: number }>('SELECT sum(use_count)::int AS total FROM keygate_keys')
  t.equal(rows[0]?.total, 50 * 8)
}))
