/**
 * The forward-auth endpoint as a plain Node request listener, over real HTTP:
 * what it hands the authorizer (scheme and client under each trustProxy), the
 * bytes it answers with, and what it does with bodies, faults and logs.
 */
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { forwardAuthListener, type ForwardAuthListenerOptions } from '../../src/adapters/node-http.js'
import type { AuthorizationResult, AuthorizeRequest } from '../../src/authorizer/index.js'

const ALLOWED: AuthorizationResult = {
  allow: true,
  status: 200,
  code: 'OK',
  reasons: [],
  subject: 'usr_child',
  actor: 'usr_parent',
  credential: { type: 'secret_key', id: 'key_1', prefix: 'sk-abc' },
  action: null,
  decisionId: 'dec_1',
  policyRevision: 'r'
}

interface Fixture {
  url: string
  seen: AuthorizeRequest[]
  logs: Array<{ level: string; object: Record<string, unknown>; message: string }>
}

async function listening (t: Test, options: Partial<ForwardAuthListenerOptions> & { answer?: () => Promise<AuthorizationResult> } = {}): Promise<Fixture> {
  const seen: AuthorizeRequest[] = []
  const logs: Fixture['logs'] = []
  const answer = options.answer ?? (async () => ALLOWED)
  const listener = forwardAuthListener({
    authorizer: { authorize: async (request) => { seen.push(request); return await answer() } },
    log: {
      level: 'debug',
      debug: (object, message) => { logs.push({ level: 'debug', object: object as Record<string, unknown>, message }) },
      error: (object, message) => { logs.push({ level: 'error', object: object as Record<string, unknown>, message }) }
    },
    ...options
  })
  const server = http.createServer(listener)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, logs }
}

const FORWARDED = { 'x-forwarded-uri': '/api/v1/bot/list', 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' }

t.test('allowed: the identity headers, an empty body with its length, no-store', async (t) => {
  const { url, seen } = await listening(t)
  const res = await fetch(`${url}/v1/forward-auth`, { headers: { authorization: 'Bearer sk-x', 'x-forwarded-method': 'post', 'x-forwarded-uri': '/api/v1/bot/create?x=1' } })
  t.equal(res.status, 200)
  t.equal(await res.text(), '')
  t.equal(res.headers.get('content-length'), '0')
  t.equal(res.headers.get('transfer-encoding'), null)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(res.headers.get('x-keygate-user-id'), 'usr_child')
  t.equal(res.headers.get('x-keygate-actor-id'), 'usr_parent')
  t.equal(res.headers.get('x-keygate-key-id'), 'key_1')
  t.equal(res.headers.get('x-keygate-credential'), 'secret_key')
  t.equal(res.headers.get('x-keygate-decision-id'), 'dec_1')
  t.match(seen[0], { method: 'POST', path: '/api/v1/bot/create', scheme: 'http', client: { address: '127.0.0.1' } })
  t.same(seen[0]?.headers.authorization, ['Bearer sk-x'])
})

t.test('X-Forwarded-For and -Proto count only from a trusted peer', async (t) => {
  const expectations: Array<[ForwardAuthListenerOptions['trustProxy'], string, string]> = [
    [undefined, '127.0.0.1', 'http'],
    [false, '127.0.0.1', 'http'],
    [2, '127.0.0.1', 'http'],
    [['10.0.0.0/8'], '127.0.0.1', 'http'],
    [['10.0.0.0/8', '127.0.0.1'], '203.0.113.7', 'https'],
    ['10.0.0.0/8, 127.0.0.1', '203.0.113.7', 'https'],
    [true, '203.0.113.7', 'https']
  ]
  for (const [trustProxy, address, scheme] of expectations) {
    const { url, seen } = await listening(t, { trustProxy })
    await fetch(`${url}/v1/forward-auth`, { headers: FORWARDED })
    t.match(seen[0], { scheme, client: { address } }, `trustProxy ${JSON.stringify(trustProxy)}`)
  }
  const { url, seen } = await listening(t, { trustProxy: true })
  await fetch(`${url}/v1/forward-auth`, { headers: { ...FORWARDED, 'x-forwarded-proto': 'https, http' } })
  t.equal(seen[0]?.scheme, 'http', 'the last proxy\'s word counts')
})

t.test('400 when the proxy names no request; nothing is asked', async (t) => {
  const { url, seen } = await listening(t)
  const res = await fetch(`${url}/v1/forward-auth`)
  t.equal(res.status, 400)
  t.match(await res.json(), { code: 'INVALID_REQUEST', message: /no request to authorize/ })
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(seen.length, 0)
})

t.test('a body is never read, and the connection goes on serving', async (t) => {
  const { url, seen } = await listening(t)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  const sockets = new Set()
  for (let i = 0; i < 3; i++) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${url}/v1/forward-auth/api/v1/bot/create`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume()
        res.on('end', () => { resolve(res.statusCode ?? 0) })
      })
      req.on('socket', (socket) => sockets.add(socket))
      req.on('error', reject)
      req.end(JSON.stringify({ big: 'x'.repeat(100_000) }))
    })
    t.equal(status, 200)
  }
  t.equal(sockets.size, 1, 'one keep-alive connection for all three')
  t.equal(seen.length, 3)
})

t.test('a fault outside the decision is a 500, logged; the log never holds the credential', async (t) => {
  const { url, logs } = await listening(t, { answer: async () => { throw new Error('boom') } })
  const res = await fetch(`${url}/v1/forward-auth`, { headers: { ...FORWARDED, authorization: 'Bearer sk-secretvalue' } })
  t.equal(res.status, 500)
  t.same(await res.json(), { message: 'Internal error', code: 'INTERNAL_ERROR' })
  t.equal(logs[0]?.level, 'error')
  t.equal(logs[0]?.message, 'request failed')

  const ok = await listening(t)
  await fetch(`${ok.url}/v1/forward-auth?token=abc`, { headers: { ...FORWARDED, authorization: 'Bearer sk-secretvalue' } })
  t.match(ok.logs[0], { level: 'debug', message: 'request completed', object: { req: { method: 'GET', url: '/v1/forward-auth', ip: '127.0.0.1' }, res: { statusCode: 200 } } })
  t.notMatch(JSON.stringify(ok.logs), /secretvalue|token=abc/)
})

t.test('no line per check at info, the default (the decision log has each one), nor above', async (t) => {
  for (const level of ['info', 'warn']) {
    const { url } = await listening(t, {
      log: { level, debug: () => { throw new Error(`debug logged at ${level}`) }, error: () => {} }
    })
    t.equal((await fetch(`${url}/v1/forward-auth`, { headers: FORWARDED })).status, 200)
  }
  const { url, logs } = await listening(t, {
    log: { level: 'warn', debug: () => { throw new Error('debug logged at warn') }, error: () => {} }
  })
  const res = await fetch(`${url}/v1/forward-auth`, { headers: FORWARDED })
  t.equal(res.status, 200)
  t.equal(logs.length, 0)
})
