import t from 'tap'
import { createHash } from 'node:crypto'
import { forEachDatabase } from '../helpers/databases.js'
import { InvalidValueError, StoreConflictError, StoreError, StoreNotFoundError } from '../../src/store/index.js'

const hashOf = (secret: string): Buffer => createHash('sha256').update(secret).digest()

t.test('creating and finding users', (t) => forEachDatabase(t, async (t, _db, store) => {
  const user = await store.createUser({ email: 'Alice@Example.COM' })
  t.match(user.id, /^usr_[0-9A-Za-z]{20}$/)
  t.match(user, { email: 'Alice@Example.COM', name: null, parentId: null, role: 'user', restrictions: [], status: 'active' })
  t.type(user.createdAt, Date)
  t.type(user.updatedAt, Date)
  t.same(await store.findUserById(user.id), user)
  t.equal(await store.findUserById('usr_00000000000000000000'), null)

  const admin = await store.createUser({ email: 'root@example.com', name: 'Root', role: 'admin' })
  t.match(admin, { name: 'Root', role: 'admin' })
  const child = await store.createUser({ email: 'kid@example.com', parentId: user.id })
  t.equal(child.parentId, user.id)
  t.not(child.id, user.id)
}))

t.test('e-mail addresses are unique per parent, compared with ASCII letters lower-cased', (t) => forEachDatabase(t, async (t, _db, store) => {
  const parent = await store.createUser({ email: 'parent@example.com' })
  const other = await store.createUser({ email: 'other@example.com' })
  await t.rejects(store.createUser({ email: 'PARENT@example.com' }), { name: 'StoreConflictError', code: 'EMAIL_TAKEN' })

  await store.createUser({ email: 'kid@example.com', parentId: parent.id })
  const error = await store.createUser({ email: 'Kid@Example.com', parentId: parent.id }).catch((e: unknown) => e)
  t.ok(error instanceof StoreConflictError && error instanceof StoreError)
  t.equal(StoreConflictError.code, 'EMAIL_TAKEN')
  t.ok((error as Error).cause, 'the driver error is kept as cause')

  // The same address is free under another parent, and at the top level.
  await store.createUser({ email: 'kid@example.com', parentId: other.id })
  await store.createUser({ email: 'kid@example.com' })

  // ...and for updates too.
  const second = await store.createUser({ email: 'second@example.com', parentId: parent.id })
  await t.rejects(store.updateUser(second.id, { email: 'KID@example.com' }), { code: 'EMAIL_TAKEN' })
  t.equal((await store.updateUser(second.id, { email: 'Second@Example.com' }))?.email, 'Second@Example.com', 'its own address, re-cased')
  t.equal((await store.findChildByEmail(parent.id, 'second@example.com'))?.id, second.id, 'found under its new canonical form')
}))

t.test('look-alike addresses are other addresses: nothing non-ASCII folds onto ASCII', (t) => forEachDatabase(t, async (t, _db, store) => {
  const parent = await store.createUser({ email: 'parent@example.com' })
  const kelvin = await store.createUser({ email: 'kelvin@example.com', parentId: parent.id })
  const ivan = await store.createUser({ email: 'ivan@example.com', parentId: parent.id })
  // U+212A KELVIN SIGN lower-cases (and NFC-normalises) to "k"; U+0130 lower-cases to "i" plus a dot.
  for (const [lookAlike, of] of [['\u212aelvin@example.com', kelvin], ['\u0130van@example.com', ivan], ['kelv\u0131n@example.com', kelvin]] as const) {
    t.equal(await store.findChildByEmail(parent.id, lookAlike), null, `${JSON.stringify(lookAlike)} does not name ${of.email}`)
    const own = await store.createUser({ email: lookAlike, parentId: parent.id })
    t.not(own.id, of.id, 'and may be an account of its own')
    t.equal((await store.findChildByEmail(parent.id, lookAlike))?.id, own.id)
    t.equal((await store.findChildByEmail(parent.id, of.email))?.id, of.id)
  }
}))

t.test('the store refuses an address outside the grammar, whitespace around it included', (t) => forEachDatabase(t, async (t, _db, store) => {
  for (const email of [' alice@example.com', 'alice@example.com ', '\u00a0alice@example.com', 'alice@example.com\u3000', '\ufeffalice@example.com', 'alice@localhost', 'a b@example.com', 'alice']) {
    await t.rejects(store.createUser({ email }), { name: 'InvalidValueError' }, JSON.stringify(email))
  }
  const user = await store.createUser({ email: 'alice@example.com' })
  await t.rejects(store.updateUser(user.id, { email: 'alice@example.com\u00a0' }), { name: 'InvalidValueError' })
}))

t.test('children are found by e-mail under their own parent only', (t) => forEachDatabase(t, async (t, _db, store) => {
  const parent = await store.createUser({ email: 'parent@example.com' })
  const stranger = await store.createUser({ email: 'stranger@example.com' })
  const child = await store.createUser({ email: 'Kid@Example.com', parentId: parent.id })
  const grandchild = await store.createUser({ email: 'grandkid@example.com', parentId: child.id })

  t.same(await store.findChildByEmail(parent.id, 'kid@EXAMPLE.com'), child)
  t.equal(await store.findChildByEmail(parent.id, ' kid@example.com'), null, 'nothing is trimmed')
  t.equal(await store.findChildByEmail(stranger.id, 'kid@example.com'), null, "another parent's child")
  t.equal(await store.findChildByEmail(parent.id, 'grandkid@example.com'), null, 'a grandchild')
  t.equal((await store.findChildByEmail(child.id, 'grandkid@example.com'))?.id, grandchild.id)
  t.equal(await store.findChildByEmail(parent.id, 'stranger@example.com'), null, 'a top-level account')
  t.equal(await store.findChildByEmail(parent.id, 'nobody@example.com'), null)
  // Header values that cannot name anyone are "nobody", not a failed query.
  t.equal(await store.findChildByEmail(parent.id, 'kid\0@example.com'), null)
  t.equal(await store.findChildByEmail('not-an-id', 'kid@example.com'), null)
  for (const id of ['', 'not-an-id', `${child.id}\0`, child.id.toLowerCase(), ` ${child.id}`]) {
    t.equal(await store.findUserById(id), null, JSON.stringify(id))
  }

  // A deleted child frees its address; the live one wins, else the deleted one is reported as such.
  t.ok(await store.deleteUser(child.id))
  t.match(await store.findChildByEmail(parent.id, 'kid@example.com'), { id: child.id, status: 'deleted' })
  const successor = await store.createUser({ email: 'kid@example.com', parentId: parent.id })
  t.match(await store.findChildByEmail(parent.id, 'kid@example.com'), { id: successor.id, status: 'active' })
}))

t.test('a parent must exist and be live', (t) => forEachDatabase(t, async (t, _db, store) => {
  await t.rejects(store.createUser({ email: 'a@example.com', parentId: 'usr_00000000000000000000' }),
    { name: 'StoreNotFoundError', code: 'USER_NOT_FOUND' })
  const parent = await store.createUser({ email: 'parent@example.com' })
  await store.deleteUser(parent.id)
  await t.rejects(store.createUser({ email: 'a@example.com', parentId: parent.id }), StoreNotFoundError)
}))

t.test('values the schema refuses', (t) => forEachDatabase(t, async (t, _db, store) => {
  for (const email of ['', '   ', 'no-at-sign', 'two@@example.com', 'a b@example.com', `${'a'.repeat(320)}@example.com`, 'nul\0@example.com']) {
    await t.rejects(store.createUser({ email }), { name: 'InvalidValueError', code: 'INVALID_VALUE' }, JSON.stringify(email))
  }
  await t.rejects(store.createUser({ email: 'a@example.com', role: 'root' as 'admin' }), InvalidValueError)
  await t.rejects(store.createUser({ email: 'a@example.com', name: 'n'.repeat(201) }), InvalidValueError)
  const user = await store.createUser({ email: 'a@example.com' })
  for (const flag of ['Read-Only', 'read only', '-x', '1x', '', 'x'.repeat(65)]) {
    await t.rejects(store.addRestriction(user.id, flag), InvalidValueError, JSON.stringify(flag))
    await t.rejects(store.updateUser(user.id, { restrictions: [flag] }), InvalidValueError, JSON.stringify(flag))
  }
  t.same((await store.findUserById(user.id))?.restrictions, [], 'nothing was stored')
}))

t.test('updating users', (t) => forEachDatabase(t, async (t, _db, store) => {
  const user = await store.createUser({ email: 'a@example.com', name: 'Ann' })
  const renamed = await store.updateUser(user.id, { name: 'Anne' })
  t.match(renamed, { name: 'Anne', email: 'a@example.com', role: 'user', status: 'active' })
  t.ok(renamed !== null && renamed.updatedAt > user.updatedAt, 'updatedAt moves')
  t.equal((await store.updateUser(user.id, {}))?.name, 'Anne', 'absent fields are kept')
  t.equal((await store.updateUser(user.id, { name: null }))?.name, null, 'null clears the name')

  t.match(await store.updateUser(user.id, { disabled: true, role: 'admin' }), { status: 'disabled', role: 'admin' })
  t.match(await store.updateUser(user.id, { disabled: false }), { status: 'active', role: 'admin' })
  t.same((await store.updateUser(user.id, { restrictions: ['suspended', 'impersonation', 'suspended'] }))?.restrictions,
    ['impersonation', 'suspended'], 'a sorted set')
  t.same((await store.updateUser(user.id, { restrictions: [] }))?.restrictions, [])

  t.equal(await store.updateUser('usr_00000000000000000000', { name: 'x' }), null, 'unknown')
  await store.deleteUser(user.id)
  t.equal(await store.updateUser(user.id, { name: 'x' }), null, 'deleted')
}))

t.test('restriction flags are an idempotent sorted set', (t) => forEachDatabase(t, async (t, _db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  await store.addRestriction(user.id, 'suspended')
  await store.addRestriction(user.id, 'read-only')
  await store.addRestriction(user.id, 'impersonation')
  t.same((await store.addRestriction(user.id, 'read-only'))?.restrictions, ['impersonation', 'read-only', 'suspended'])
  t.same((await store.removeRestriction(user.id, 'read-only'))?.restrictions, ['impersonation', 'suspended'])
  t.same((await store.removeRestriction(user.id, 'read-only'))?.restrictions, ['impersonation', 'suspended'])
  t.same((await store.findUserById(user.id))?.restrictions, ['impersonation', 'suspended'])
  t.same((await store.updateUser(user.id, { restrictions: ['suspended', 'read-only', 'impersonation', 'read-only'] }))?.restrictions,
    ['impersonation', 'read-only', 'suspended'], 'updateUser sorts and deduplicates')
  // Only flags the policy knows are ever written, whichever way they come.
  await t.rejects(store.updateUser(user.id, { restrictions: ['read-only', 'readonly'] }), { code: 'INVALID_VALUE' })
  await t.rejects(store.addRestriction(user.id, 'Suspended'), { code: 'INVALID_VALUE' })
  t.same((await store.findUserById(user.id))?.restrictions, ['impersonation', 'read-only', 'suspended'], 'a refused write changes nothing')

  t.equal(await store.addRestriction('usr_00000000000000000000', 'suspended'), null)
  t.equal(await store.removeRestriction('usr_00000000000000000000', 'suspended'), null)
}))

t.test('soft delete', (t) => forEachDatabase(t, async (t, _db, store) => {
  const user = await store.createUser({ email: 'a@example.com' })
  const key = await store.createKey({ userId: user.id, hash: hashOf('a'), prefix: 'sk-a' })
  const revokedBefore = await store.createKey({ userId: user.id, hash: hashOf('b'), prefix: 'sk-b' })
  const at = new Date('2020-01-01T00:00:00.000Z')
  await store.revokeKey(revokedBefore.id, at)
  await store.updateUser(user.id, { disabled: true })

  t.equal(await store.deleteUser(user.id), true)
  t.equal(await store.deleteUser(user.id), false, 'already deleted')
  t.equal(await store.deleteUser('usr_00000000000000000000'), false, 'unknown')
  t.match(await store.findUserById(user.id), { id: user.id, status: 'deleted' }, 'deleted wins over disabled')
  t.type((await store.findKeyById(key.id))?.revokedAt, Date, 'its keys are revoked')
  t.same((await store.findKeyById(revokedBefore.id))?.revokedAt, at, 'an earlier revocation is kept')
  t.same((await store.listUsers({ parentId: null })).items, [])
  t.equal(await store.countUsers(), 1, 'countUsers counts deleted users too')
  await t.rejects(store.createKey({ userId: user.id, hash: hashOf('c'), prefix: 'sk-c' }), { code: 'USER_NOT_FOUND' })
}))

t.test('countUsers', (t) => forEachDatabase(t, async (t, _db, store) => {
  t.equal(await store.countUsers(), 0)
  const parent = await store.createUser({ email: 'a@example.com' })
  await store.createUser({ email: 'b@example.com', parentId: parent.id })
  t.equal(await store.countUsers(), 2)
}))
