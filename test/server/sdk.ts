import t from 'tap'
import { ChatBotKit } from '@chatbotkit/sdk'
import { forEachDatabase } from '../helpers/databases.js'
import { testServer } from '../helpers/server.js'

/** The status forward-auth gives a bot listing with this token, over real HTTP. */
async function forwardAuth (baseUrl: string, token: string): Promise<number> {
  const response = await fetch(`${baseUrl}/v1/forward-auth`, {
    headers: { authorization: `Bearer ${token}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/v1/bot/list' }
  })
  await response.arrayBuffer()
  return response.status
}

// The real client talking to the management API directly; through a proxy, see the proxy suites.
t.test('@chatbotkit/sdk against the management API', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const baseUrl = await server.app.listen({ host: '127.0.0.1', port: 0 })
  const parent = await server.account()
  const sdk = new ChatBotKit({ secret: parent.token, baseUrl, retries: 0 })

  const { id } = await sdk.partner.user.create({ name: 'Ada', email: 'ada@example.com' })
  t.match(id, /^usr_/)
  const fetched = await sdk.partner.user.fetch(id)
  t.match(fetched, { id, name: 'Ada', email: 'ada@example.com' })
  t.type(fetched.createdAt, 'number')
  await sdk.partner.user.update(id, { name: 'Ada L.' })
  t.equal((await sdk.partner.user.fetch(id)).name, 'Ada L.')
  const list = await sdk.partner.user.list({ take: 10 })
  t.same(list.items.map((u) => u.id), [id])

  const key = await sdk.partner.user.token.create(id, { name: 'child key' })
  t.match(key, { id: /^key_/, token: /^sk-/ })
  t.type(key.createdAt, 'number')
  const child = new ChatBotKit({ secret: key.token, baseUrl, retries: 0 })
  t.equal(await forwardAuth(baseUrl, key.token), 200, 'the child\'s key works')
  await t.rejects(child.partner.user.list(), { code: 'NOT_AUTHORIZED' },
    'a key its parent minted acts as the parent acting as the child: it manages no sub-accounts')

  const stranger = new ChatBotKit({ secret: `sk-${'A'.repeat(49)}`, baseUrl, retries: 0 })
  await t.rejects(stranger.partner.user.list(), { code: 'NOT_AUTHENTICATED', message: 'Not authenticated' })
  const runAs = new ChatBotKit({ secret: parent.token, baseUrl, retries: 0, runAsUserId: 'usr_00000000000000000000' })
  await t.rejects(runAs.partner.user.list(), { code: 'NOT_AUTHORIZED', message: 'Not authorized' })
  await t.rejects(sdk.partner.user.fetch('usr_00000000000000000000'), { code: 'NOT_FOUND' })

  await sdk.partner.user.delete(id)
  t.equal(await forwardAuth(baseUrl, key.token), 401, 'a deleted child\'s key stops at once')
  await t.rejects(child.partner.user.list(), { code: 'NOT_AUTHENTICATED' })
}))

/**
 * Every method of the SDK's partner.user, partner.user.token and
 * partner.user.session clients, with every field its request types allow
 * (those Keygate has no use for are accepted and ignored), and the response
 * fields its types require.
 */
t.test('every partner.user, partner.user.token and partner.user.session method of @chatbotkit/sdk', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  const baseUrl = await server.app.listen({ host: '127.0.0.1', port: 0 })
  const parent = await server.account()
  const sdk = new ChatBotKit({ secret: parent.token, baseUrl, retries: 0 })
  const ignored = { description: 'ignored', meta: { team: 'blue' } }

  // partner.user
  const first = await sdk.partner.user.create({ name: 'First', email: 'first@example.com', ...ignored, image: 'https://example.com/a.png', limits: { tokens: 10, database: { files: 1 } } })
  const second = await sdk.partner.user.create({ name: 'Second', email: 'second@example.com' })
  t.same(Object.keys(first), ['id'], 'partner.user.create: {id}')
  const fetched = await sdk.partner.user.fetch(first.id)
  t.match(fetched, { id: first.id, name: 'First', email: 'first@example.com', createdAt: Number, updatedAt: Number }, 'partner.user.fetch')
  t.notOk('description' in fetched, 'ignored fields are not stored')
  t.same(await sdk.partner.user.update(first.id, { name: 'First!', ...ignored, image: 'x', limits: {} }), { id: first.id }, 'partner.user.update: {id}')
  t.equal((await sdk.partner.user.fetch(first.id)).name, 'First!')

  const ids = (page: { items: Array<{ id: string }> }): string[] => page.items.map((item) => item.id)
  t.same(ids(await sdk.partner.user.list()), [first.id, second.id], 'partner.user.list: oldest first')
  t.same(ids(await sdk.partner.user.list({ order: 'desc' })), [second.id, first.id], 'order: desc')
  const page = await sdk.partner.user.list({ take: 1 })
  t.same(ids(page), [first.id])
  t.same(ids(await sdk.partner.user.list({ take: 1, cursor: page.cursor })), [second.id], 'cursor')
  t.same(ids(await sdk.partner.user.list({ email: 'SECOND@example.com' })), [second.id], 'email filter')
  t.same(ids(await sdk.partner.user.list({ meta: { team: 'blue' } })), [], 'meta filter: Keygate keeps no meta, so nobody matches')

  // partner.user.token
  const key = await sdk.partner.user.token.create(first.id, { name: 'ci', ...ignored, config: {} as Record<string, never> })
  t.match(key, { id: /^key_/, token: /^sk-/, createdAt: Number }, 'partner.user.token.create')
  const other = await sdk.partner.user.token.create(first.id, { name: 'other' })
  const keys = await sdk.partner.user.token.list(first.id)
  t.same(ids(keys), [key.id, other.id], 'partner.user.token.list')
  t.match(keys.items[0], { id: key.id, name: 'ci', createdAt: Number, updatedAt: Number })
  t.notOk(JSON.stringify(keys).includes(key.token), 'never the secret')
  t.same(ids(await sdk.partner.user.token.list(first.id, { order: 'desc', take: 1 })), [other.id])
  t.same(await sdk.partner.user.token.update(first.id, key.id, { name: 'renamed', ...ignored, config: {} as Record<string, never> }), { id: key.id }, 'partner.user.token.update')
  t.equal((await sdk.partner.user.token.list(first.id)).items[0]?.name, 'renamed')
  t.equal(await forwardAuth(baseUrl, key.token), 200, 'the child\'s key works')
  t.same(await sdk.partner.user.token.delete(first.id, key.id), { id: key.id }, 'partner.user.token.delete')
  t.equal(await forwardAuth(baseUrl, key.token), 401, 'a revoked key stops at once')
  t.same(ids(await sdk.partner.user.token.list(first.id)), [other.id], 'revoked keys are not listed')
  await t.rejects(sdk.partner.user.token.list(second.id, { cursor: keys.cursor ?? 'a2V5XzAwMDAwMDAwMDAwMDAwMDAwMDAw' }), { code: 'INVALID_REQUEST' }, 'a cursor of another list')
  await t.rejects(sdk.partner.user.token.delete(second.id, other.id), { code: 'NOT_FOUND' }, 'a key of another child')

  // partner.user.session
  const session = await sdk.partner.user.session.create(first.id, {
    durationInSeconds: 600, config: { allowedRoutes: ['partner/user/list'], contactId: 'contact_1', namespace: 'ns' }
  })
  t.match(session, { id: /^ses_/, token: String, expiresAt: Number }, 'partner.user.session.create')
  t.ok(Math.abs(session.expiresAt - (server.now().getTime() + 600_000)) < 5_000, 'expiresAt in epoch milliseconds')
  const asSession = new ChatBotKit({ secret: session.token, baseUrl, retries: 0 })
  t.same((await asSession.partner.user.list().catch((error: { code: string }) => error)).code, 'NOT_AUTHORIZED',
    'a session token never manages accounts, even on a route it allows')
  t.match(await sdk.partner.user.session.create(second.id, { durationInSeconds: null, config: null }), { id: /^ses_/ }, 'nulls are "not given"')

  await t.rejects(sdk.partner.user.fetch(parent.id), { code: 'NOT_FOUND' }, 'not a child of the caller')
  t.same(await sdk.partner.user.delete(first.id), { id: first.id }, 'partner.user.delete')
  t.same(ids(await sdk.partner.user.list()), [second.id])
}))
