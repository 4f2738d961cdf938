import t from 'tap'
import { ChatBotKit } from '@chatbotkit/sdk'
import { forEachDatabase } from '../helpers/databases.js'
import { testServer } from '../helpers/server.js'

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
  t.same((await child.partner.user.list()).items, [], 'the child\'s key works and sees its own (no) children')

  const stranger = new ChatBotKit({ secret: `sk-${'A'.repeat(49)}`, baseUrl, retries: 0 })
  await t.rejects(stranger.partner.user.list(), { code: 'NOT_AUTHENTICATED', message: 'Not authenticated' })
  const runAs = new ChatBotKit({ secret: parent.token, baseUrl, retries: 0, runAsUserId: 'usr_00000000000000000000' })
  await t.rejects(runAs.partner.user.list(), { code: 'NOT_AUTHORIZED', message: 'Not authorized' })
  await t.rejects(sdk.partner.user.fetch('usr_00000000000000000000'), { code: 'NOT_FOUND' })

  await sdk.partner.user.delete(id)
  await t.rejects(child.partner.user.list(), { code: 'NOT_AUTHENTICATED' }, 'a deleted child\'s key stops at once')
}))
