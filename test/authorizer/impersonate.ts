import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { harness, visible } from '../helpers/authorizer.js'

const OK = { allow: true, status: 200, code: 'OK' }
const REFUSED = { allow: false, status: 403, code: 'NOT_AUTHORIZED' }
const NOT_AUTHENTICATED = { allow: false, status: 401, code: 'NOT_AUTHENTICATED' }
const INVALID_REQUEST = { allow: false, status: 400, code: 'INVALID_REQUEST' }

t.test('impersonation', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db)
  const parent = await h.account({ email: 'parent@example.com' })
  const child = await h.account({ email: 'Child@Example.com', parentId: parent.user.id })
  const grandchild = await h.account({ email: 'grandchild@example.com', parentId: child.user.id })
  const stranger = await h.account({ email: 'stranger@example.com' })
  const strangersChild = await h.account({ email: 'theirs@example.com', parentId: stranger.user.id })
  const disabledChild = await h.account({ email: 'disabled@example.com', parentId: parent.user.id })
  await h.store.updateUser(disabledChild.user.id, { disabled: true })
  const deletedChild = await h.account({ email: 'deleted@example.com', parentId: parent.user.id })
  await h.store.deleteUser(deletedChild.user.id)
  const restricted = await h.account({ email: 'restricted@example.com' })
  const restrictedsChild = await h.account({ email: 'rc@example.com', parentId: restricted.user.id })
  await h.store.addRestriction(restricted.user.id, 'impersonation')

  const actingAs = async (key: string, headers: Record<string, string | string[]>, path = '/api/v1/dataset/list') =>
    await h.authorize({ key, headers, path })

  await t.test('by id, by the alias header, by e-mail in another case', async (t) => {
    for (const headers of [
      { 'X-RunAs-User-ID': child.user.id },
      { 'x-runas-userid': child.user.id },
      { 'X-RunAs-Child-User-Email': '  CHILD@example.COM ' },
      { 'x-runas-user-id': child.user.id, 'x-runas-child-user-email': 'child@example.com' }
    ]) {
      const d = await actingAs(parent.key, headers)
      t.same(visible(d), OK, JSON.stringify(headers))
      t.equal(d.subject, child.user.id, 'the subject is the child')
      t.equal(d.actor, parent.user.id, 'the actor is the parent')
      t.equal(d.credential.id, parent.keyId, 'the key is the parent\'s')
    }
  })

  await t.test('every refusal looks the same to the caller', async (t) => {
    const session = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl'
    const refusals: Array<[string, string, Record<string, string | string[]>]> = [
      ['unknown user', parent.key, { 'x-runas-user-id': 'usr_00000000000000000000' }],
      ['unknown e-mail', parent.key, { 'x-runas-child-user-email': 'nobody@example.com' }],
      ['not your child', parent.key, { 'x-runas-user-id': strangersChild.user.id }],
      ['not your child, by e-mail', parent.key, { 'x-runas-child-user-email': 'theirs@example.com' }],
      ['grandchild', parent.key, { 'x-runas-user-id': grandchild.user.id }],
      ['yourself', parent.key, { 'x-runas-user-id': parent.user.id }],
      ['restricted parent', restricted.key, { 'x-runas-user-id': restrictedsChild.user.id }],
      ['disabled child', parent.key, { 'x-runas-user-id': disabledChild.user.id }],
      ['deleted child', parent.key, { 'x-runas-user-id': deletedChild.user.id }],
      // Look-alikes of the child's address are other addresses (U+212A KELVIN SIGN, U+0130, a dotless i).
      ['a look-alike e-mail', parent.key, { 'x-runas-child-user-email': 'Chİld@example.com' }],
      ['a dotless-i e-mail', parent.key, { 'x-runas-child-user-email': 'chıld@example.com' }],
      ['headers naming different users', parent.key, { 'x-runas-user-id': child.user.id, 'x-runas-child-user-email': 'disabled@example.com' }],
      ['a child acting as its parent', child.key, { 'x-runas-user-id': parent.user.id }]
    ]
    for (const [name, key, headers] of refusals) {
      const d = await actingAs(key, headers)
      t.same(visible(d), REFUSED, name)
      t.equal(d.actor, null, `${name}: never acts as anyone`)
      t.ok(d.reasons.length > 0, `${name}: a reason for the log`)
    }
    // A session token cannot impersonate either; without a session verifier it is not even valid.
    t.same(visible(await h.authorize({ headers: { authorization: `Bearer ${session}`, 'x-runas-user-id': child.user.id } })), NOT_AUTHENTICATED)
  })

  await t.test('a malformed run-as request is 400, one answer for every case, decided before any lookup', async (t) => {
    const malformed: Array<[string, Record<string, string | string[]>]> = [
      ['empty value', { 'x-runas-user-id': '' }],
      ['whitespace-only value', { 'x-runas-user-id': ' \t ' }],
      ['empty e-mail', { 'x-runas-child-user-email': '' }],
      ['malformed value', { 'x-runas-user-id': '../usr' }],
      ['malformed e-mail', { 'x-runas-child-user-email': 'child' }],
      ['two values', { 'x-runas-user-id': [child.user.id, child.user.id] }],
      ['the header and its alias', { 'x-runas-user-id': child.user.id, 'x-runas-userid': child.user.id }],
      ['two e-mail headers', { 'x-runas-child-user-email': ['child@example.com', 'child@example.com'] }],
      // Only SP and HTAB are OWS: NBSP (byte 0xA0 as Node reads it), U+3000 and the BOM are outside the grammar.
      ['the id and NBSP', { 'x-runas-user-id': `${child.user.id}\u00a0` }],
      ['NBSP and the e-mail', { 'x-runas-child-user-email': '\u00a0child@example.com' }],
      ['the e-mail and U+3000', { 'x-runas-child-user-email': 'child@example.com\u3000' }],
      ['a BOM and the e-mail', { 'x-runas-child-user-email': '\ufeffchild@example.com' }]
    ]
    for (const [name, headers] of malformed) {
      for (const key of [parent.key, 'sk-nope', stranger.key]) {
        // Nothing cached: a lookup would show as a query.
        h.authorizer.invalidate('all')
        h.queries.length = 0
        const d = await actingAs(key, headers)
        t.same(visible(d), INVALID_REQUEST, `${name} (${key === parent.key ? 'parent' : key === 'sk-nope' ? 'bad key' : 'stranger'})`)
        t.same([d.subject, d.actor], [null, null], `${name}: no identity`)
        t.same(h.queries, [], `${name}: nothing looked up`)
      }
    }
  })

  await t.test('a bad credential with X-RunAs is 401, as without it', async (t) => {
    for (const headers of [
      { 'x-runas-user-id': child.user.id },
      { authorization: 'Bearer sk-nope', 'x-runas-user-id': child.user.id },
      { authorization: 'Basic eDp5', 'x-runas-child-user-email': 'child@example.com' }
    ]) {
      t.same(visible(await h.authorize({ headers })), NOT_AUTHENTICATED)
    }
  })

  await t.test('rights are the intersection: key scopes and the child\'s restrictions', async (t) => {
    const scoped = await h.account({ email: 'scoped-parent@example.com' }, ['dataset:read'])
    const kid = await h.account({ email: 'kid@example.com', parentId: scoped.user.id })
    t.same(visible(await actingAs(scoped.key, { 'x-runas-user-id': kid.user.id }, '/api/v1/dataset/list')), OK)
    t.same(visible(await actingAs(scoped.key, { 'x-runas-user-id': kid.user.id }, '/api/v1/dataset/create')), REFUSED)
    await h.store.addRestriction(child.user.id, 'read-only')
    h.authorizer.invalidate({ userId: child.user.id })
    t.same(visible(await actingAs(parent.key, { 'x-runas-user-id': child.user.id }, '/api/v1/bot/list')), OK)
    t.same(visible(await actingAs(parent.key, { 'x-runas-user-id': child.user.id }, '/api/v1/bot/create')), REFUSED)
    t.same(visible(await h.authorize({ key: parent.key, path: '/api/v1/bot/create', method: 'POST' })), OK, 'the parent itself is not read-only')
    await h.store.removeRestriction(child.user.id, 'read-only')
    h.authorizer.invalidate({ userId: child.user.id })
  })

  await t.test('a child\'s keys are managed through partner endpoints, not by impersonation', async (t) => {
    t.same(visible(await actingAs(parent.key, { 'x-runas-user-id': child.user.id }, '/api/v1/token/create')), REFUSED)
    t.same(visible(await h.authorize({ key: parent.key, method: 'POST', path: `/api/v1/partner/user/${child.user.id}/token/create` })), OK)
  })
}))
