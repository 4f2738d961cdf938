/**
 * Issue 11 §2, §3, §5 through the real server over real HTTP, bytes as a
 * client sends them: method classes, header grammar (only SP and HTAB are
 * optional whitespace), the RFC 6750 challenges and the 400 for a malformed
 * request, on forward-auth and on a route the server authorizes itself.
 */
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { testServer } from '../helpers/server.js'

interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/** One request written byte for byte (header values as latin1: 0xA0 is the byte 0xA0), read to the end. */
async function raw (port: number, method: string, target: string, headers: Array<[string, string | Buffer]>): Promise<RawAnswer> {
  const head = [`${method} ${target} HTTP/1.1`, 'host: keygate.test', 'connection: close'].join('\r\n')
  const parts: Buffer[] = [Buffer.from(head, 'latin1')]
  for (const [name, value] of headers) parts.push(Buffer.from(`\r\n${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value)
  parts.push(Buffer.from('\r\n\r\n', 'latin1'))
  const socket = connect(port, '127.0.0.1')
  // Not end(): a half-closed connection may be dropped before the answer; `connection: close` ends it.
  socket.write(Buffer.concat(parts))
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('latin1')
  const [header = '', body = ''] = text.split('\r\n\r\n', 2)
  const [statusLine = '', ...lines] = header.split('\r\n')
  const out: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    out[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1]), headers: out, body }
}

const REALM = 'Bearer realm="keygate"'
const INVALID_TOKEN = 'Bearer realm="keygate", error="invalid_token"'
const INVALID_REQUEST_BODY = '{"message":"Invalid request","code":"INVALID_REQUEST"}'
const NBSP = '\u00a0'

t.test('request syntax through the server', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await testServer(t, store)
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  const port = (server.app.server.address() as AddressInfo).port
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })
  const readOnly = await server.account()
  await store.addRestriction(readOnly.id, 'read-only')
  const readScoped = await server.account({ scopes: ['read'] })
  server.authorizer.invalidate('all')
  const key = (account: { token: string }): [string, string] => ['authorization', `Bearer ${account.token}`]
  const check = async (headers: Array<[string, string | Buffer]>, method = 'GET', uri = '/api/v1/bot/list'): Promise<RawAnswer> =>
    await raw(port, 'GET', '/v1/forward-auth', [['x-forwarded-method', method], ['x-forwarded-uri', uri], ...headers])

  await t.test('§2: DELETE, PUT, PATCH and unknown methods are writes whatever the path says', async (t) => {
    for (const account of [readOnly, readScoped]) {
      const who = account === readOnly ? 'read-only account' : 'read-scoped key'
      t.equal((await check([key(account)], 'GET')).status, 200, `${who}: GET list`)
      t.equal((await check([key(account)], 'HEAD')).status, 200, `${who}: HEAD list`)
      t.equal((await check([key(account)], 'POST', '/api/v1/bot/b1/memory/search')).status, 200, `${who}: POST search`)
      for (const method of ['DELETE', 'PUT', 'PATCH', 'PURGE']) {
        const res = await check([key(account)], method)
        t.equal(res.status, 403, `${who}: ${method} /api/v1/bot/list`)
        t.notOk('x-keygate-user-id' in res.headers)
      }
      t.equal((await check([key(account)], 'GET', '/api/v1/bot/fetch/frobnicate')).status, 403, `${who}: an unknown verb is a write`)
    }
    t.equal((await check([key(parent)], 'DELETE')).status, 200, 'a full-access key may')
  })

  await t.test('§3: a byte outside the grammar around a credential makes it malformed (401 invalid_token)', async (t) => {
    const created = await server.app.inject({ method: 'POST', url: '/api/v1/session/create', headers: parent.headers, payload: { durationInSeconds: 60 } })
    const session = created.json().token as string
    const asSuch = await check([['authorization', `Bearer ${session}`]])
    t.equal(asSuch.status, 200, 'the session as such', { created: created.statusCode, asSuch })
    for (const token of [parent.token, session]) {
      const kind = token === session ? 'session' : 'key'
      for (const value of [`Bearer ${token}${NBSP}`, `${NBSP}Bearer ${token}`, `Bearer${NBSP}${token}`, `Bearer ${token}\u0085`]) {
        const res = await check([['authorization', value]])
        t.equal(res.status, 401, `${kind}: ${JSON.stringify(value.replace(token, '…'))}`)
        t.equal(res.headers['www-authenticate'], INVALID_TOKEN)
      }
      t.equal((await check([['authorization', ` \tBearer ${token}\t `]])).status, 200, `${kind}: SP and HTAB are OWS`)
    }
  })

  await t.test('§5: another scheme or a bare key is no Bearer credential: 401 without an error parameter', async (t) => {
    for (const value of ['Basic dXNlcjpwYXNz', `Token ${parent.token}`, parent.token]) {
      for (const res of [await check([['authorization', value]]), await raw(port, 'GET', '/api/v1/token/list', [['authorization', value]])]) {
        t.equal(res.status, 401, value.slice(0, 12))
        t.equal(res.headers['www-authenticate'], REALM)
      }
    }
  })

  await t.test('§5: a Bearer header and an access_token query parameter is 400 invalid_request; the query alone is ignored', async (t) => {
    const both = [
      await check([key(parent)], 'GET', '/api/v1/bot/list?access_token=x'),
      await check([key(parent)], 'GET', '/api/v1/bot/list?a=1&access%5Ftoken=x'),
      await raw(port, 'GET', '/v1/forward-auth/api/v1/bot/list?access_token=x', [key(parent)]),
      await check([key(parent), ['x-original-uri', '/api/v1/bot/list?access_token=x']], 'GET', '/api/v1/bot/list'),
      await raw(port, 'GET', '/api/v1/token/list?access_token=x', [key(parent)])
    ]
    for (const res of both) {
      t.equal(res.status, 400)
      t.equal(res.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_request"')
      t.equal(res.body, INVALID_REQUEST_BODY)
    }
    const alone = await check([], 'GET', `/api/v1/bot/list?access_token=${parent.token}`)
    t.equal(alone.status, 401, 'a token in the query is never read')
    t.equal(alone.headers['www-authenticate'], REALM)
    t.equal((await check([key(parent)], 'GET', '/api/v1/bot/list?token=x')).status, 200, 'other parameters are not a credential')
  })

  await t.test('§3, §5: a malformed run-as request is one 400, decided before any lookup', async (t) => {
    const cases: Record<string, Array<[string, string | Buffer]>> = {
      'an empty id': [['x-runas-user-id', '']],
      'a whitespace-only id': [['x-runas-user-id', ' \t ']],
      'an empty e-mail': [['x-runas-child-user-email', '']],
      'the id and byte 0xA0': [['x-runas-user-id', `${child.id}${NBSP}`]],
      'byte 0xA0 and the id': [['x-runas-user-id', `${NBSP}${child.id}`]],
      'the e-mail and byte 0xA0': [['x-runas-child-user-email', `${child.email}${NBSP}`]],
      'the e-mail and U+3000 (UTF-8)': [['x-runas-child-user-email', Buffer.concat([Buffer.from(child.email), Buffer.from('\u3000', 'utf8')])]],
      'a BOM (UTF-8) and the e-mail': [['x-runas-child-user-email', Buffer.concat([Buffer.from('\ufeff', 'utf8'), Buffer.from(child.email)])]],
      'a Kelvin sign (UTF-8) for k': [['x-runas-child-user-email', Buffer.from(child.email.replace('e', '\u212a'), 'utf8')]],
      'a value outside the grammar': [['x-runas-user-id', 'usr_../x']],
      'two ids': [['x-runas-user-id', child.id], ['x-runas-user-id', child.id]],
      'the id and its alias': [['X-RunAs-User-ID', child.id], ['X-RunAs-UserId', child.id]],
      'two e-mails': [['x-runas-child-user-email', child.email], ['x-runas-child-user-email', child.email]]
    }
    const answers = []
    for (const [name, headers] of Object.entries(cases)) {
      for (const credential of [key(parent), ['authorization', 'Bearer sk-nope'] as [string, string]]) {
        const res = await check([credential, ...headers])
        t.equal(res.status, 400, name)
        t.notOk('x-keygate-user-id' in res.headers, `${name}: no identity`)
        const { date: _date, ...rest } = res.headers
        answers.push({ body: res.body, headers: rest })
      }
    }
    t.equal(answers[0]?.body, INVALID_REQUEST_BODY)
    for (const answer of answers) t.same(answer, answers[0], 'byte-identical')
  })

  await t.test('§3: the API takes e-mail addresses in the one grammar, nothing trimmed, look-alikes distinct', async (t) => {
    const create = async (email: string): Promise<number> => (await server.app.inject({ method: 'POST', url: '/api/v1/partner/user/create', headers: parent.headers, payload: { email } })).statusCode
    for (const email of [' kid@example.com', 'kid@example.com ', `${NBSP}kid@example.com`, 'kid@example.com\u3000', '\ufeffkid@example.com', 'kid@localhost', 'a b@example.com']) {
      t.equal(await create(email), 400, JSON.stringify(email))
    }
    t.equal(await create('kid@example.com'), 200)
    t.equal(await create('KID@example.com'), 409, 'ASCII case is one address')
    t.equal(await create('\u212aid@example.com'), 200, 'a Kelvin sign is another address')
    t.equal(await create('Jürgen@münchen.example'), 200, 'letters of any script')
  })

  await t.test('§5: an id and an e-mail of different children stay the uniform 403; of the same child, allowed', async (t) => {
    const second = await server.account({ parentId: parent.id })
    const different = await check([key(parent), ['x-runas-user-id', child.id], ['x-runas-child-user-email', second.email]])
    t.equal(different.status, 403)
    const same = await check([key(parent), ['x-runas-user-id', child.id], ['x-runas-child-user-email', child.email.toUpperCase()]])
    t.equal(same.status, 200)
    t.equal(same.headers['x-keygate-user-id'], child.id)
    t.equal(same.headers['x-keygate-actor-id'], parent.id)
    const alias = await check([key(parent), ['X-RunAs-UserId', child.id]])
    t.equal(alias.headers['x-keygate-user-id'], child.id, 'the alias alone is accepted')
  })
}))
