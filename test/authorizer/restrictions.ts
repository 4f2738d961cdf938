import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { harness, visible } from '../helpers/authorizer.js'
import { openStore } from '../../src/store/index.js'
import { createAuthorizer } from '../../src/authorizer/index.js'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { testPolicy } from '../helpers/server.js'

const OK = { allow: true, status: 200, code: 'OK' }
const REFUSED = { allow: false, status: 403, code: 'NOT_AUTHORIZED' }

t.test('restriction flags and scopes', (t) => forEachDatabase(t, async (t, db) => {
  const h = await harness(t, db)

  await t.test('read-only: reads (also through POST) allowed, writes refused', async (t) => {
    const { user, key } = await h.account({ email: 'ro@example.com' })
    await h.store.addRestriction(user.id, 'read-only')
    h.authorizer.invalidate({ userId: user.id })
    t.same(visible(await h.authorize({ key, method: 'GET', path: '/api/v1/bot/list' })), OK)
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/bot/bot_1/memory/search' })), OK)
    t.same(visible(await h.authorize({ key, method: 'GET', path: '/api/v1/dataset/ds_1/fetch' })), OK)
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/bot/bot_1/update' })), REFUSED)
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/bot/create' })), REFUSED)
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/token/create' })), REFUSED)
  })

  await t.test('suspended: authenticated, but may do nothing', async (t) => {
    const { user, key } = await h.account({ email: 'suspended@example.com' })
    await h.store.addRestriction(user.id, 'suspended')
    h.authorizer.invalidate({ userId: user.id })
    const d = await h.authorize({ key, path: '/api/v1/bot/list' })
    t.same(visible(d), REFUSED)
    t.equal(d.subject, user.id, 'still knows who it is')
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/bot/bot_1/memory/search' })), REFUSED)
  })

  await t.test('scoped keys', async (t) => {
    const { key } = await h.account({ email: 'scoped@example.com' }, ['bot:read', 'dataset:write'])
    t.same(visible(await h.authorize({ key, path: '/api/v1/bot/list' })), OK)
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/bot/create' })), REFUSED)
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/dataset/create' })), OK)
    t.same(visible(await h.authorize({ key, path: '/api/v1/dataset/list' })), OK, 'write includes read')
    t.same(visible(await h.authorize({ key, path: '/api/v1/skillset/list' })), REFUSED)
    t.same(visible(await h.authorize({ key, method: 'POST', path: '/api/v1/token/create' })), REFUSED, 'no manage scope')
  })

  await t.test('admin actions need an admin account', async (t) => {
    const admin = await h.account({ email: 'admin@example.com', role: 'admin' })
    const user = await h.account({ email: 'plain@example.com' })
    t.same(visible(await h.authorize({ key: admin.key, method: 'POST', path: '/admin/v1/user/create' })), OK)
    t.same(visible(await h.authorize({ key: user.key, method: 'POST', path: '/admin/v1/user/create' })), REFUSED)
  })

  await t.test('paths outside the API or not canonical are refused', async (t) => {
    const { key } = await h.account({ email: 'paths@example.com' })
    for (const path of ['/etc/passwd', '/api/v2/bot/list', '/api/v1/bot/../token/create', '/api/v1//bot/list', '/api/v1/bot%2f..%2ftoken/create']) {
      t.same(visible(await h.authorize({ key, path })), REFUSED, path)
    }
    t.same(visible(await h.authorize({ key, path: '/api/v1/bot/list?cursor=abc#frag' })), OK, 'query string ignored')
    t.same(visible(await h.authorize({ key, path: '/v1/bot/list' })), OK, '/v1 alias')
  })
}))

t.test('a store that cannot be reached is a 503, never a 401 or an allow', async (t) => {
  const store = await openStore({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 500, migrate: false })
  const authorizer = await createAuthorizer({ store, policy: await testPolicy() })
  t.teardown(async () => { await store.close() })
  const d = await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${generateSecretKey().key}` } })
  t.same({ allow: d.allow, status: d.status, code: d.code }, { allow: false, status: 503, code: 'SERVICE_UNAVAILABLE' })
  t.same(d.reasons.map((r) => r.code), ['store_unavailable'])
  const forged = await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: 'Bearer sk-forged' } })
  t.equal(forged.status, 401, 'a forged key never needed the store')
})
