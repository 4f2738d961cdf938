/**
 * The decision API is no oracle: who may call it, what a 401 says about the
 * credential, and whose word the client address is taken on. Real HTTP, on
 * loopback and (where the machine has one) on a non-loopback address.
 */
import { request as httpRequest } from 'node:http'
import { networkInterfaces } from 'node:os'
import t from 'tap'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { errorBody } from '../../src/errors.js'
import { auditServer, type AuditServer } from '../helpers/audit.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer } from '../helpers/server.js'

const CALLER_TOKEN = 'decision-caller-0123456789abcdefghijklmnopqrstuv'
const NOT_AUTHENTICATED = errorBody('NOT_AUTHENTICATED')
const NOT_AUTHORIZED = errorBody('NOT_AUTHORIZED')

/** An address of this machine that is not loopback: a caller from "the network". */
const external = Object.values(networkInterfaces()).flat()
  .find((i) => i !== undefined && !i.internal && i.family === 'IPv4')?.address

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A POST with headers given as written (an array: the header sent once per value). */
async function post (url: string, body: unknown, headers: Record<string, string | string[]> = {}): Promise<Answer> {
  const payload = JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST' }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.setHeader('content-type', 'application/json')
    for (const [name, value] of Object.entries(headers)) req.setHeader(name, value)
    req.end(payload)
  })
}

async function listening (server: AuditServer): Promise<{ loopback: string; external: string | undefined }> {
  await server.app.listen({ host: '0.0.0.0', port: 0 })
  const { port } = server.app.server.address() as { port: number }
  return { loopback: `http://127.0.0.1:${port}/v1/authorize`, external: external === undefined ? undefined : `http://${external}:${port}/v1/authorize` }
}

interface Logged { key_id: string | null; key_prefix: string | null; client_address: string | null }

async function logged (server: AuditServer, decisionId: string): Promise<Logged> {
  await server.audit.flush()
  const { rows } = await server.store.database.query<Logged>(
    "SELECT key_id, key_prefix, client_address FROM keygate_decisions WHERE decision_id = $1 AND kind = 'decision'", [decisionId])
  if (rows.length !== 1) throw new Error(`decision ${decisionId}: ${rows.length} log rows`)
  return rows[0] as Logged
}

const question = (headers: Record<string, unknown> = {}, client?: { address: string }): Record<string, unknown> =>
  ({ method: 'GET', path: '/api/v1/bot/list', headers, ...(client === undefined ? {} : { client }) })

t.test('without KEYGATE_DECISION_API_TOKEN only callers on this host are answered', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store)
  const urls = await listening(server)
  const user = await server.account()

  const local = await post(urls.loopback, question(user.headers))
  t.equal(local.status, 200, 'a sidecar on loopback needs nothing')
  t.match(JSON.parse(local.body), { allow: true, subject: user.id })

  t.test('a caller from the network gets the plain 403', { skip: urls.external === undefined && 'no non-loopback address on this machine' }, async (t) => {
    const remote = await post(urls.external as string, question(user.headers))
    t.equal(remote.status, 403)
    t.equal(remote.body, NOT_AUTHORIZED)
    t.equal(remote.headers['www-authenticate'], 'Bearer realm="keygate", error="insufficient_scope"')
    t.notOk(remote.body.includes(user.id), 'nothing about the credential asked about')
    const bearing = await post(urls.external as string, question(user.headers), bearer(user.token))
    t.equal(bearing.status, 403, 'a credential of the decided kind opens nothing')
  })
}))

t.test('a proxy on this host does not make its clients local', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store, {}, { app: { trustProxy: ['127.0.0.1'] } })
  const urls = await listening(server)
  const user = await server.account()
  const proxied = await post(urls.loopback, question(user.headers), { 'x-forwarded-for': '203.0.113.9' })
  t.equal(proxied.status, 403)
  t.equal(proxied.body, NOT_AUTHORIZED)
  t.equal((await post(urls.loopback, question(user.headers), { 'x-forwarded-for': '127.0.0.1' })).status, 200,
    'the trusted proxy says its client is on this host too')
}))

t.test('with KEYGATE_DECISION_API_TOKEN every caller sends it as its own bearer token', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store, {}, { app: { decisionApiToken: CALLER_TOKEN } })
  const urls = await listening(server)
  const user = await server.account()

  const none = await post(urls.loopback, question(user.headers))
  t.equal(none.status, 401, 'loopback is no exception once a token is set')
  t.equal(none.body, NOT_AUTHENTICATED)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="keygate"', 'RFC 6750 §3.1: no error code without a credential')

  for (const [what, authorization] of [
    ['a wrong token', `Bearer ${CALLER_TOKEN.slice(0, -1)}x`],
    ['the token with a character more', `Bearer ${CALLER_TOKEN}x`],
    ['a prefix of the token', `Bearer ${CALLER_TOKEN.slice(0, 20)}`],
    ['the token under another scheme', `Basic ${CALLER_TOKEN}`],
    ['the decided credential instead', user.headers.authorization],
    ['the token twice', [`Bearer ${CALLER_TOKEN}`, `Bearer ${CALLER_TOKEN}`]]
  ] as const) {
    const refused = await post(urls.loopback, question(user.headers), { authorization: authorization as string | string[] })
    t.equal(refused.status, 401, what)
    t.equal(refused.body, NOT_AUTHENTICATED, what)
    t.equal(refused.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_token"', what)
  }
  const inBody = await post(urls.loopback, question({ ...user.headers, authorization: `Bearer ${CALLER_TOKEN}` }))
  t.equal(inBody.status, 401, 'the token among the decided headers is not the caller\'s')

  const allowed = await post(urls.loopback, question(user.headers), { authorization: `bearer  ${CALLER_TOKEN}` })
  t.equal(allowed.status, 200, 'the scheme is case-insensitive')
  t.match(JSON.parse(allowed.body), { allow: true, subject: user.id })
  if (urls.external !== undefined) {
    t.equal((await post(urls.external, question(user.headers), bearer(CALLER_TOKEN))).status, 200, 'from the network too')
  }
}))

t.test('a 401 decision names no credential id or prefix; the decision log keeps them', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store)
  const urls = await listening(server)
  const revoked = await server.account()
  await store.revokeKey(revoked.keyId)
  const expired = await server.account({ expiresInSeconds: 1 })
  await store.setKeyExpiry(expired.keyId, new Date(Date.now() - 1000))
  const deleted = await server.account()
  const session = await server.sessions.mint({ userId: deleted.id })
  await store.deleteUser(deleted.id)
  const unknown = generateSecretKey().key

  const asked: Array<[string, string, string | null]> = [
    ['a revoked key', revoked.token, revoked.keyId],
    ['an expired key', expired.token, expired.keyId],
    ['a deleted user\'s session', session.token, session.id],
    ['an unknown key', unknown, null]
  ]
  const shapes = new Set<string>()
  for (const [what, token, id] of asked) {
    const res = await post(urls.loopback, question(bearer(token)))
    t.equal(res.status, 200, what)
    const decision = JSON.parse(res.body)
    t.match(decision, { allow: false, status: 401, code: 'NOT_AUTHENTICATED' }, what)
    t.same(decision.credential, { type: token.startsWith('sk-') ? 'secret_key' : 'session', id: null, prefix: null }, what)
    if (id !== null) t.notOk(res.body.includes(id), `${what}: its id is nowhere in the answer`)
    t.notOk(res.body.includes(token.slice(0, 9)), `${what}: nor its prefix`)
    const { decisionId, credential, ...rest } = decision
    shapes.add(JSON.stringify({ ...rest, credentialType: credential.type }))
    const entry = await logged(server, decisionId)
    t.equal(entry.key_id, id, `${what}: the log has the id`)
    if (id !== null && token.startsWith('sk-')) t.equal(entry.key_prefix, token.slice(0, 9), `${what}: and the prefix`)
  }
  t.equal(shapes.size, 2, 'one answer per credential type, whatever the cause')

  // The other HTTP answers never named it; they must not start to.
  const forward = await server.app.inject({ url: '/v1/forward-auth', headers: { ...bearer(revoked.token), 'x-original-uri': '/api/v1/bot/list' } })
  t.equal(forward.statusCode, 401)
  t.equal(forward.body, NOT_AUTHENTICATED)
  t.notOk(JSON.stringify(forward.headers).includes(revoked.keyId), 'forward-auth: no key id header on a 401')
  const plugin = await server.app.inject({ url: '/api/v1/token/list', headers: bearer(revoked.token) })
  t.equal(plugin.statusCode, 401)
  t.equal(plugin.body, NOT_AUTHENTICATED)
  t.notOk(JSON.stringify(plugin.headers).includes(revoked.keyId), 'the Fastify plugin: nothing either')
}))

t.test('client.address is recorded only from a caller allowed to state it', (t) => forEachDatabase(t, async (t, _db, store) => {
  const plain = await auditServer(t, store)
  const withToken = await auditServer(t, store, {}, { app: { decisionApiToken: CALLER_TOKEN } })
  const behindProxy = await auditServer(t, store, {}, { app: { trustProxy: ['127.0.0.1'] } })
  const user = await plain.account()
  const innocent = { address: '198.51.100.7' }

  const recorded = async (server: AuditServer, headers: Record<string, string> = {}): Promise<unknown> => {
    const urls = await listening(server)
    const res = await post(urls.loopback, question(bearer(`${user.token.slice(0, -1)}${user.token.endsWith('x') ? 'y' : 'x'}`), innocent), headers)
    t.equal(res.status, 200)
    return (await logged(server, JSON.parse(res.body).decisionId)).client_address
  }
  t.equal(await recorded(plain), '127.0.0.1', 'a loopback caller without the token: its own address')
  t.equal(await recorded(withToken, bearer(CALLER_TOKEN)), '198.51.100.7', 'the token holder states it')
  t.equal(await recorded(behindProxy), '198.51.100.7', 'a proxy trusted with X-Forwarded-For states it')

  const events = async (server: AuditServer): Promise<string[]> => {
    for (let i = 0; i < 20; i++) await server.app.inject({ method: 'POST', url: '/v1/authorize', payload: question({}, innocent) })
    await server.audit.flush()
    const { rows } = await store.database.query<{ client_address: string | null }>(
      "SELECT client_address FROM keygate_decisions WHERE kind = 'security' AND event = 'unauthenticated_burst'")
    return rows.map((row) => row.client_address ?? '')
  }
  const alerts = await events(plain)
  t.ok(alerts.length > 0, 'the burst was seen')
  t.notOk(alerts.includes('198.51.100.7'), 'no security alert points at the innocent address')
}))
