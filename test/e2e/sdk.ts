/**
 * The real client, @chatbotkit/sdk, unchanged, pointed at nginx running
 * examples/nginx/keygate.conf: Keygate's own API behind it answers the
 * partner calls, and a stand-in API (which echoes the request it received in
 * a list body) answers the rest once Keygate has allowed them.
 */
import { ChatBotKit } from '@chatbotkit/sdk'
import t from 'tap'
import { startKeygate, startNginx, startUpstream, type SeenRequest } from '../helpers/proxies.js'
import { missing } from '../helpers/requires.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The headers the API received, from the echo in its list body. */
function receivedBy (list: unknown): SeenRequest['headers'] {
  return (list as { request: SeenRequest }).request.headers
}

t.test('@chatbotkit/sdk through nginx and Keygate', async (t) => {
  if (missing(t, 'nginx')) return
  const keygate = await startKeygate(t)
  const upstream = await startUpstream(t)
  const front = await startNginx(t, { keygate, upstream })
  // The parent account and its key, made on the server's store.
  const parent = await keygate.account()
  const sdk = (options: { secret?: string; runAsUserId?: string; runAsChildUserEmail?: string } = {}): ChatBotKit =>
    new ChatBotKit({ baseUrl: front.url, secret: parent.token, ...options })

  const email = 'child@example.com'
  const child = await sdk().partner.user.create({ name: 'Child', email })
  t.match(child, { id: /^usr_/ }, 'partner.user.create')
  const childKey = await sdk().partner.user.token.create(child.id, { name: 'e2e' })
  t.match(childKey, { id: String, token: /^sk-/, createdAt: Number }, 'partner.user.token.create')

  await t.test('bot.list as the parent', async (t) => {
    const list = await sdk().bot.list()
    t.same(list.items, [])
    const headers = receivedBy(list)
    t.equal(headers['x-keygate-user-id'], parent.id)
    t.equal(headers['x-keygate-key-id'], parent.keyId)
    t.equal(headers['x-keygate-credential'], 'secret_key')
    t.match(headers['x-keygate-decision-id'], UUID)
    t.notOk(headers['x-keygate-actor-id'], 'no actor')
  })

  await t.test('bot.list with the key the parent minted for the child: the parent is its actor', async (t) => {
    const headers = receivedBy(await sdk({ secret: childKey.token }).bot.list())
    t.equal(headers['x-keygate-user-id'], child.id)
    t.equal(headers['x-keygate-key-id'], childKey.id)
    t.equal(headers['x-keygate-actor-id'], parent.id)
  })

  await t.test('dataset.list as the child: runAsUserId and runAsChildUserEmail', async (t) => {
    for (const runAs of [{ runAsUserId: child.id }, { runAsChildUserEmail: email }]) {
      const headers = receivedBy(await sdk(runAs).dataset.list())
      t.equal(headers['x-keygate-user-id'], child.id, `${Object.keys(runAs)[0]}: the child is the subject`)
      t.equal(headers['x-keygate-actor-id'], parent.id, 'the parent is the actor')
      t.equal(headers['x-keygate-key-id'], parent.keyId, 'with the parent\'s key')
    }
  })

  await t.test('a bad key is NOT_AUTHENTICATED', async (t) => {
    const seen = upstream.requests.length
    await t.rejects(async () => await sdk({ secret: 'sk-not-a-key' }).bot.list(), { code: 'NOT_AUTHENTICATED', message: 'Not authenticated' })
    await t.rejects(async () => await sdk({ secret: 'sk-not-a-key', runAsUserId: child.id }).dataset.list(), { code: 'NOT_AUTHENTICATED' })
    await t.rejects(async () => await sdk({ secret: 'sk-not-a-key' }).partner.user.list(), { code: 'NOT_AUTHENTICATED' }, 'Keygate\'s own API too')
    t.equal(upstream.requests.length, seen, 'the API saw none of them')
  })

  await t.test('a refused impersonation is NOT_AUTHORIZED', async (t) => {
    const otherParent = await keygate.account()
    const strangersChild = await keygate.account({ parentId: otherParent.id })
    const seen = upstream.requests.length
    const refused = [
      { name: 'another parent\'s child', client: sdk({ runAsUserId: strangersChild.id }) },
      { name: 'an e-mail address nobody has', client: sdk({ runAsChildUserEmail: 'nobody@example.com' }) },
      { name: 'the child acting as its parent', client: sdk({ secret: childKey.token, runAsUserId: parent.id }) }
    ]
    for (const { name, client } of refused) {
      await t.rejects(async () => await client.dataset.list(), { code: 'NOT_AUTHORIZED', message: 'Not authorized' }, name)
    }
    t.equal(upstream.requests.length, seen, 'the API saw none of them')
    // Keygate's own API: a child's accounts are managed as the parent, never while impersonating it.
    await t.rejects(async () => await sdk({ runAsUserId: child.id }).partner.user.create({ email: 'grandchild@example.com' }), { code: 'NOT_AUTHORIZED' })
  })
})
