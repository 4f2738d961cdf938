/**
 * nginx (auth_request) and Caddy (forward_auth), each running its recipe from
 * examples/, in front of Keygate and a small API that echoes what it receives.
 */
import t, { type Test } from 'tap'
import { bearer } from '../helpers/server.js'
import { missing } from '../helpers/requires.js'
import { freePort, startCaddy, startKeygate, startNginx, startUpstream, type Proxy, type ProxyName, type SeenRequest } from '../helpers/proxies.js'

const NOT_AUTHENTICATED = '{"message":"Not authenticated","code":"NOT_AUTHENTICATED"}'
const NOT_AUTHORIZED = '{"message":"Not authorized","code":"NOT_AUTHORIZED"}'
const SERVICE_UNAVAILABLE = '{"message":"Service unavailable","code":"SERVICE_UNAVAILABLE"}'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const SPOOFED = 'usr_spoofed'

interface ProxyCase {
  name: ProxyName
  start: typeof startNginx
  /** The headers that name the request in the check this proxy sends to Keygate. */
  methodHeader: string
  uriHeader: string
}

const PROXIES: ProxyCase[] = [
  { name: 'nginx', start: startNginx, methodHeader: 'x-original-method', uriHeader: 'x-original-uri' },
  { name: 'caddy', start: startCaddy, methodHeader: 'x-forwarded-method', uriHeader: 'x-forwarded-uri' }
]

interface Answer { status: number; headers: Headers; body: string }

async function send (front: Proxy, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${front.url}${path}`, init)
  return { status: response.status, headers: response.headers, body: await response.text() }
}

/** What the API received, from its echo. */
function echoed (answer: Answer): SeenRequest {
  return (JSON.parse(answer.body) as { request: SeenRequest }).request
}

/** Checks the status, and shows the proxy's logs when it is not the one expected. */
function expectStatus (t: Test, front: Proxy, answer: Answer, status: number, message: string): void {
  if (!t.equal(answer.status, status, message)) t.comment(`body: ${answer.body}\n${front.logs()}`)
}

for (const proxy of PROXIES) {
  t.test(`${proxy.name} in front of Keygate and an API`, async (t) => {
    if (missing(t, proxy.name)) return
    const keygate = await startKeygate(t)
    const upstream = await startUpstream(t)
    const front = await proxy.start(t, { keygate, upstream })
    const parent = await keygate.account()
    const child = await keygate.account({ parentId: parent.id })
    const otherParent = await keygate.account()
    const strangersChild = await keygate.account({ parentId: otherParent.id })
    const reader = await keygate.account({ scopes: ['read'] })

    /** Sends the request and checks that it never reached the API. */
    const refused = async (path: string, init: RequestInit): Promise<Answer> => {
      const before = upstream.requests.length
      const answer = await send(front, path, init)
      t.equal(upstream.requests.length, before, `${path}: the API never saw it`)
      return answer
    }

    await t.test('an allowed request reaches the API with the identity, whatever the client claimed', async (t) => {
      const answer = await send(front, '/api/v1/bot/list', {
        headers: {
          ...parent.headers,
          'x-keygate-user-id': SPOOFED,
          'x-keygate-actor-id': SPOOFED,
          'x-keygate-key-id': SPOOFED,
          'x-keygate-credential': 'session',
          'x-keygate-decision-id': SPOOFED
        }
      })
      expectStatus(t, front, answer, 200, 'allowed')
      const { headers } = echoed(answer)
      t.equal(headers['x-keygate-user-id'], parent.id)
      t.equal(headers['x-keygate-key-id'], parent.keyId)
      t.equal(headers['x-keygate-credential'], 'secret_key')
      t.match(headers['x-keygate-decision-id'], UUID)
      t.notOk(headers['x-keygate-actor-id'], 'no actor (absent or empty) unless impersonating, not the client\'s')
      t.equal(headers.authorization, parent.headers.authorization, 'the API still gets the credential')
    })

    await t.test('impersonation: the child is the subject, the parent the actor', async (t) => {
      const runAsHeaders: Array<Record<string, string>> = [{ 'x-runas-user-id': child.id }, { 'x-runas-child-user-email': child.email }]
      for (const runAs of runAsHeaders) {
        const answer = await send(front, '/api/v1/dataset/list', { headers: { ...parent.headers, ...runAs, 'x-keygate-actor-id': SPOOFED } })
        expectStatus(t, front, answer, 200, Object.keys(runAs)[0] as string)
        const { headers } = echoed(answer)
        t.equal(headers['x-keygate-user-id'], child.id)
        t.equal(headers['x-keygate-actor-id'], parent.id)
        t.equal(headers['x-keygate-key-id'], parent.keyId)
        for (const name of ['x-runas-user-id', 'x-runas-userid', 'x-runas-child-user-email']) {
          t.notOk(headers[name], `${name} never reaches the API: it takes the identity from X-Keygate-*`)
        }
      }
    })

    await t.test('400: a malformed impersonation request, Keygate\'s body and challenge', async (t) => {
      const cases = [
        { name: 'an empty id', headers: { ...parent.headers, 'x-runas-user-id': '' } },
        { name: 'an id outside the grammar', headers: { ...parent.headers, 'x-runas-user-id': 'usr_../x' } },
        { name: 'the id and its alias', headers: { ...parent.headers, 'x-runas-user-id': child.id, 'x-runas-userid': child.id } }
      ]
      for (const { name, headers } of cases) {
        const answer = await refused('/api/v1/dataset/list', { headers })
        expectStatus(t, front, answer, 400, name)
        t.equal(answer.body, '{"message":"Invalid request","code":"INVALID_REQUEST"}', name)
        t.equal(answer.headers.get('www-authenticate'), 'Bearer realm="keygate", error="invalid_request"', name)
      }
    })

    await t.test('401: the SDK\'s JSON body and Keygate\'s challenge', async (t) => {
      const cases = [
        { name: 'no credential', headers: {}, challenge: 'Bearer realm="keygate"' },
        { name: 'another scheme', headers: { authorization: 'Basic dXNlcjpwYXNz' }, challenge: 'Bearer realm="keygate"' },
        { name: 'a bad key', headers: bearer('sk-not-a-key'), challenge: 'Bearer realm="keygate", error="invalid_token"' },
        { name: 'a bad key asking to impersonate', headers: { ...bearer('sk-not-a-key'), 'x-runas-user-id': child.id }, challenge: 'Bearer realm="keygate", error="invalid_token"' }
      ]
      for (const { name, headers, challenge } of cases) {
        const answer = await refused('/api/v1/bot/list', { headers })
        expectStatus(t, front, answer, 401, name)
        t.equal(answer.body, NOT_AUTHENTICATED, name)
        t.match(answer.headers.get('content-type'), /^application\/json(;|$)/, name)
        t.equal(answer.headers.get('www-authenticate'), challenge, name)
        t.equal(answer.headers.get('cache-control'), 'no-store', name)
      }
    })

    await t.test('403: the SDK\'s JSON body, the same for every refusal', async (t) => {
      const cases = [
        { name: 'another parent\'s child', headers: { ...parent.headers, 'x-runas-user-id': strangersChild.id } },
        { name: 'a user that does not exist', headers: { ...parent.headers, 'x-runas-child-user-email': 'nobody@example.com' } },
        { name: 'a read-only key writing', headers: reader.headers, method: 'POST' }
      ]
      for (const { name, headers, method } of cases) {
        const path = method === 'POST' ? '/api/v1/bot/create' : '/api/v1/dataset/list'
        const answer = await refused(path, { method, headers })
        expectStatus(t, front, answer, 403, name)
        t.equal(answer.body, NOT_AUTHORIZED, name)
        t.match(answer.headers.get('content-type'), /^application\/json(;|$)/, name)
        t.equal(answer.headers.get('www-authenticate'), 'Bearer realm="keygate", error="insufficient_scope"', name)
        t.equal(answer.headers.get('cache-control'), 'no-store', name)
      }
    })

    await t.test('the query string reaches the API and Keygate, but takes no part in the decision', async (t) => {
      const read = await send(front, '/api/v1/bot/list?then=/api/v1/bot/create&n=%2e%2e', { headers: reader.headers })
      expectStatus(t, front, read, 200, 'a read, whatever the query says')
      t.equal(echoed(read).url, '/api/v1/bot/list?then=/api/v1/bot/create&n=%2e%2e')
      t.equal(keygate.checks.at(-1)?.headers[proxy.uriHeader], '/api/v1/bot/list?then=/api/v1/bot/create&n=%2e%2e')

      const write = await refused('/api/v1/bot/create?as=/api/v1/bot/list', { method: 'POST', headers: reader.headers })
      expectStatus(t, front, write, 403, 'a write, whatever the query says')
    })

    await t.test('the check names the request, its scheme and credentials, and the proxy clears what a client could add', async (t) => {
      const answer = await send(front, '/api/v1/bot/create?draft=1', {
        method: 'POST',
        headers: {
          ...parent.headers,
          'content-type': 'application/json',
          // Keygate refuses a check whose forwarding headers disagree: the proxy must drop or overwrite these.
          'x-original-uri': '/admin/v1/user/create',
          'x-original-method': 'DELETE',
          'x-forwarded-uri': '/admin/v1/user/create',
          'x-forwarded-method': 'DELETE',
          'x-forwarded-proto': 'https'
        },
        body: JSON.stringify({ name: 'bot' })
      })
      expectStatus(t, front, answer, 200, 'allowed')
      t.equal(echoed(answer).method, 'POST', 'the API gets the request as it was')
      const check = keygate.checks.at(-1)?.headers ?? {}
      t.equal(check[proxy.methodHeader], 'POST')
      t.equal(check[proxy.uriHeader], '/api/v1/bot/create?draft=1')
      t.equal(check['x-forwarded-proto'], 'http', 'the scheme the client used, not the one it claimed')
      t.equal(check.authorization, parent.headers.authorization)
      if (proxy.name === 'nginx') t.notOk(check['content-length'], 'no body in the check')
    })

    await t.test('Keygate\'s own API goes straight to Keygate, which authorizes it', async (t) => {
      const before = upstream.requests.length
      const created = await send(front, '/api/v1/partner/user/create', {
        method: 'POST',
        headers: { ...parent.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Through the proxy', email: `proxied-${proxy.name}@example.com` })
      })
      expectStatus(t, front, created, 200, 'partner/user/create')
      const { id } = JSON.parse(created.body) as { id: string }
      const fetched = await send(front, `/api/v1/partner/user/${id}/fetch`, { headers: parent.headers })
      expectStatus(t, front, fetched, 200, 'partner/user/{id}/fetch')
      t.match(JSON.parse(fetched.body), { id, email: `proxied-${proxy.name}@example.com` })
      const keys = await send(front, '/api/v1/token/list', { headers: parent.headers })
      expectStatus(t, front, keys, 200, 'token/list')
      const jwks = await send(front, '/.well-known/jwks.json')
      expectStatus(t, front, jwks, 200, 'the JWKS, public')
      const denied = await send(front, '/admin/v1/user/create', {
        method: 'POST',
        headers: { ...parent.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'x@example.com' })
      })
      expectStatus(t, front, denied, 403, 'the operator API refuses a plain account')
      t.equal(denied.body, NOT_AUTHORIZED)
      t.equal(upstream.requests.length, before, 'none of it reached the API')
    })
  })

  t.test(`${proxy.name}: Keygate unreachable fails closed`, async (t) => {
    if (missing(t, proxy.name)) return
    const upstream = await startUpstream(t)
    // Nothing listens on a port that was just free.
    const front = await proxy.start(t, { keygate: { port: await freePort() }, upstream })
    const answer = await send(front, '/api/v1/bot/list', { headers: bearer('sk-whatever') })
    t.equal(upstream.requests.length, 0, 'the API never saw it')
    expectStatus(t, front, answer, 503, 'a failed check is a 503')
    t.equal(answer.body, SERVICE_UNAVAILABLE)
    t.match(answer.headers.get('content-type'), /^application\/json(;|$)/)
    t.equal(answer.headers.get('cache-control'), 'no-store')
  })
}
