import t from 'tap'
import { createHash } from 'node:crypto'
import { forEachDatabase } from '../helpers/databases.js'
import { InvalidCursorError, type Page, type PageRequest } from '../../src/store/index.js'

const hashOf = (secret: string): Buffer => createHash('sha256').update(secret).digest()

/** Every page, following nextCursor. */
async function all<T> (list: (page: PageRequest) => Promise<Page<T>>, take: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const page: Page<T> = await list({ cursor, take })
    t.ok(page.items.length <= take)
    items.push(...page.items)
    cursor = page.nextCursor
    pages++
  } while (cursor !== null)
  return { items, pages }
}

t.test('users, page by page: no duplicates, no gaps, creation order', (t) => forEachDatabase(t, async (t, db, store) => {
  const parent = await store.createUser({ email: 'parent@example.com' })
  const children: string[] = []
  for (let i = 0; i < 23; i++) children.push((await store.createUser({ email: `c${i}@example.com`, parentId: parent.id })).id)
  const deleted = children.splice(5, 2)
  for (const id of deleted) await store.deleteUser(id)
  // Ties and sub-millisecond differences in created_at, which a Date-based cursor would get wrong.
  await db.query("UPDATE keygate_users SET created_at = '2030-01-01 00:00:00.000001+00' WHERE id = ANY($1)", [children.slice(0, 4)])
  await db.query("UPDATE keygate_users SET created_at = '2030-01-01 00:00:00.000002+00' WHERE id = ANY($1)", [children.slice(4)])
  const expected = [...children.slice(0, 4).sort(), ...children.slice(4).sort()]

  for (const take of [1, 4, 7, 21, 22, 100]) {
    const { items, pages } = await all((page) => store.listUsers({ parentId: parent.id, ...page }), take)
    t.same(items.map((u) => u.id), expected, `take ${take}`)
    t.equal(pages, Math.max(1, Math.ceil(expected.length / take)), `take ${take}: no empty last page`)
  }
  t.same((await store.listUsers({ parentId: null })).items.map((u) => u.id), [parent.id], 'top level')
  const last = await store.listUsers({ parentId: parent.id, take: 21 })
  t.equal(last.nextCursor, null, 'no cursor after the last item')
}))

t.test('page sizes', (t) => forEachDatabase(t, async (t, db, store) => {
  const parent = await store.createUser({ email: 'parent@example.com' })
  await db.query(
    // Lower-case ASCII addresses: each is its own canonical form.
    `INSERT INTO keygate_users (id, email, email_canonical, parent_id)
     SELECT 'usr_' || lpad(i::text, 20, '0'), 'u' || i || '@example.com', 'u' || i || '@example.com', $1 FROM generate_series(1, 105) AS i`, [parent.id])
  t.equal((await store.listUsers({ parentId: parent.id })).items.length, 20, 'default')
  t.equal((await store.listUsers({ parentId: parent.id, take: 1000 })).items.length, 100, 'at most 100')
  for (const take of [0, -1, 1.5, Number.NaN]) {
    await t.rejects(store.listUsers({ parentId: parent.id, take }), { code: 'INVALID_VALUE' }, String(take))
  }
}))

t.test('cursors this list did not hand out are refused', (t) => forEachDatabase(t, async (t, _db, store) => {
  const parent = await store.createUser({ email: 'parent@example.com' })
  const other = await store.createUser({ email: 'other@example.com' })
  for (let i = 0; i < 3; i++) {
    await store.createUser({ email: `a${i}@example.com`, parentId: parent.id })
    await store.createUser({ email: `b${i}@example.com`, parentId: other.id })
  }
  const key = await store.createKey({ userId: parent.id, hash: hashOf('k'), prefix: 'sk-k' })
  await store.createKey({ userId: parent.id, hash: hashOf('l'), prefix: 'sk-l' })
  const cursor = (await store.listUsers({ parentId: parent.id, take: 1 })).nextCursor as string
  const keyCursor = (await store.listKeys(parent.id, { take: 1 })).nextCursor as string
  t.ok(cursor !== null && keyCursor !== null)

  const refused = [
    'garbage!', '', 'dXNyX3Nob3J0', // "usr_short"
    Buffer.from('usr_00000000000000000000').toString('base64url'), // well formed, no such user
    keyCursor, // a key cursor in a user list
    `${cursor}=` // not the canonical encoding
  ]
  for (const bad of refused) {
    await t.rejects(store.listUsers({ parentId: parent.id, cursor: bad }), InvalidCursorError, JSON.stringify(bad))
  }
  await t.rejects(store.listUsers({ parentId: other.id, cursor }), { code: 'INVALID_CURSOR' }, "another parent's list")
  await t.rejects(store.listUsers({ parentId: null, cursor }), { code: 'INVALID_CURSOR' }, 'the top-level list')
  await t.rejects(store.listKeys(other.id, { cursor: keyCursor }), { code: 'INVALID_CURSOR' }, "another user's keys")
  await t.rejects(store.listKeys(parent.id, { cursor }), { code: 'INVALID_CURSOR' }, 'a user cursor in a key list')
  t.equal((await store.listUsers({ parentId: parent.id, cursor })).items.length, 2, 'the real one works')

  // A cursor stays valid when the item it names is deleted or revoked meanwhile.
  const first = (await store.listUsers({ parentId: parent.id, take: 1 })).items[0]
  await store.deleteUser(first?.id as string)
  t.equal((await store.listUsers({ parentId: parent.id, cursor })).items.length, 2)
  await store.revokeKey(key.id)
  t.equal((await store.listKeys(parent.id, { cursor: keyCursor })).items.length, 1)
}))

t.test('keys, page by page, without the revoked ones', (t) => forEachDatabase(t, async (t, db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  const other = await store.createUser({ email: 'b@example.com' })
  await store.createKey({ userId: other.id, hash: hashOf('other'), prefix: 'sk-o' })
  const ids: string[] = []
  for (let i = 0; i < 9; i++) ids.push((await store.createKey({ userId: user.id, hash: hashOf(`k${i}`), prefix: 'sk-k' })).id)
  await store.revokeKey(ids.splice(3, 1)[0] as string)
  const expired = await store.createKey({ userId: user.id, hash: hashOf('old'), prefix: 'sk-x', expiresAt: new Date('2000-01-01') })
  ids.push(expired.id)

  // Keys made within the same clock tick tie on created_at and follow in id order.
  const { rows } = await db.query<{ id: string }>('SELECT id FROM keygate_keys WHERE user_id = $1 ORDER BY created_at, id', [user.id])
  const listed = rows.map((r) => r.id).filter((id) => ids.includes(id))
  t.same([...listed].sort(), [...ids].sort(), 'expired keys are listed, revoked ones are not')
  const { items } = await all((page) => store.listKeys(user.id, page), 4)
  t.same(items.map((k) => k.id), listed, 'in creation order, each once')
  t.same((await store.listKeys(user.id)).items.length, ids.length, 'default page')
}))
