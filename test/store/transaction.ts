import t from 'tap'
import { bootstrap } from '../../src/manage/index.js'
import { forEachDatabase } from '../helpers/databases.js'

t.test('Store.transaction: committed when fn resolves, rolled back when it throws', (t) => forEachDatabase(t, async (t, _db, store) => {
  const kept = await store.transaction(async (tx) => await tx.createUser({ email: 'kept@example.com' }))
  t.same(await store.findUserById(kept.id), kept)

  let created = ''
  await t.rejects(store.transaction(async (tx) => {
    created = (await tx.createUser({ email: 'gone@example.com' })).id
    throw new Error('changed my mind')
  }), /changed my mind/)
  t.equal(await store.findUserById(created), null, 'rolled back')
  await t.rejects(store.transaction(async (tx) => await tx.transaction(async () => null)), TypeError, 'not nested')
}))

t.test('bootstrap runs once, however many start at the same moment', (t) => forEachDatabase(t, async (t, _db, store) => {
  const outcomes = await Promise.allSettled(
    ['a', 'b', 'c', 'd'].map(async (name) => await bootstrap(store, { email: `${name}@example.com` })))
  t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, 'one admin')
  for (const o of outcomes) {
    if (o.status === 'rejected') t.match(o.reason, { name: 'ConflictError', message: /already has accounts/ })
  }
  t.equal(await store.countUsers(), 1)
}))
