import t from 'tap'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { forEachDatabase } from '../helpers/databases.js'
import { harness, visible } from '../helpers/authorizer.js'

const NOT_AUTHENTICATED = { allow: false, status: 401, code: 'NOT_AUTHENTICATED' }
const OK = { allow: true, status: 200, code: 'OK' }

t.test('authentication', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db)
  const { user, key, keyId } = await h.account({ email: 'owner@example.com' })

  await t.test('a valid key is allowed, with its identity in the decision', async (t) => {
    const d = await h.authorize({ key })
    t.same(visible(d), OK)
    t.equal(d.subject, user.id)
    t.equal(d.actor, null)
    t.same(d.credential, { type: 'secret_key', id: keyId, prefix: key.slice(0, 9) })
    t.match(d.decisionId, /^[0-9a-f-]{36}$/)
    t.type(d.policyRevision, 'string')
  })

  await t.test('the scheme name is case-insensitive', async (t) => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      t.same(visible(await h.authorize({ headers: { authorization: `${scheme} ${key}` } })), OK, scheme)
    }
  })

  await t.test('no credential, Basic, empty, malformed: 401', async (t) => {
    for (const headers of [{}, { authorization: 'Basic b3duZXI6cGFzcw==' }, { authorization: '' },
      { authorization: 'Bearer' }, { authorization: `Token ${key}` }, { authorization: [`Bearer ${key}`, `Bearer ${key}`] }]) {
      const d = await h.authorize({ headers })
      t.same(visible(d), NOT_AUTHENTICATED, JSON.stringify(headers).slice(0, 60))
      t.equal(d.subject, null)
    }
  })

  await t.test('a forged key never reaches the store', async (t) => {
    const forged = key.slice(0, 20) + (key[20] === 'x' ? 'y' : 'x') + key.slice(21)
    h.queries.length = 0
    for (let i = 0; i < 50; i++) t.same(visible(await h.authorize({ key: forged })), NOT_AUTHENTICATED)
    t.equal(h.queries.length, 0, 'no store query for a bad checksum')
  })

  // Each request a second later than the last, so that the decision memo (one second) never answers.
  await t.test('an unknown well-formed key costs one query, then the negative cache answers', async (t) => {
    const unknown = generateSecretKey().key
    h.queries.length = 0
    t.same(visible(await h.authorize({ key: unknown })), NOT_AUTHENTICATED)
    t.equal(h.queries.length, 1)
    for (let i = 0; i < 4; i++) {
      h.clock.now += 1000
      await h.authorize({ key: unknown })
    }
    t.equal(h.queries.length, 1, 'served from the negative cache')
  })

  await t.test('a key never seen costs one query: its owner comes with it', async (t) => {
    const other = await h.account({ email: 'cold@example.com' })
    h.queries.length = 0
    t.same(visible(await h.authorize({ key: other.key })), OK)
    t.equal(h.queries.length, 1)
  })

  await t.test('a cached valid key costs no query', async (t) => {
    await h.authorize({ key })
    h.queries.length = 0
    for (let i = 0; i < 4; i++) {
      h.clock.now += 1000
      t.same(visible(await h.authorize({ key })), OK)
    }
    t.equal(h.queries.length, 0)
  })

  await t.test('a revoked key is refused once the cache hears of it', async (t) => {
    const other = await h.account({ email: 'revoked@example.com' })
    t.same(visible(await h.authorize({ key: other.key })), OK)
    t.ok(await h.store.revokeKey(other.keyId))
    h.authorizer.invalidate({ keyId: other.keyId })
    const d = await h.authorize({ key: other.key })
    t.same(visible(d), NOT_AUTHENTICATED)
    t.same(d.reasons.map((r) => r.code), ['credential_revoked'])
  })

  await t.test('an expired key is refused', async (t) => {
    const { user: owner } = await h.account({ email: 'expiring@example.com' })
    const { issueKey } = await import('../../src/manage/index.js')
    const issued = await issueKey(h.store, { userId: owner.id, expiresInSeconds: 60 }, new Date(h.clock.now))
    t.same(visible(await h.authorize({ key: issued.token })), OK)
    h.clock.now += 61_000
    const d = await h.authorize({ key: issued.token })
    t.same(visible(d), NOT_AUTHENTICATED)
    t.same(d.reasons.map((r) => r.code), ['credential_expired'])
    h.clock.now -= 61_000
  })

  await t.test('a disabled or deleted account has no valid credentials', async (t) => {
    const disabled = await h.account({ email: 'disabled@example.com' })
    await h.store.updateUser(disabled.user.id, { disabled: true })
    h.authorizer.invalidate({ userId: disabled.user.id })
    t.same(visible(await h.authorize({ key: disabled.key })), NOT_AUTHENTICATED)
    const deleted = await h.account({ email: 'deleted@example.com' })
    await h.store.deleteUser(deleted.user.id)
    h.authorizer.invalidate({ userId: deleted.user.id, keyId: deleted.keyId })
    t.same(visible(await h.authorize({ key: deleted.key })), NOT_AUTHENTICATED)
  })
}))
