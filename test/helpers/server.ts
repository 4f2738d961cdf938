/**
 * A Keygate server on a test store, for `app.inject()`, or over real HTTP:
 *
 *   t.test('…', (t) => forEachDatabase(t, async (t, _db, store) => {
 *     const server = await testServer(t, store)
 *     const parent = await server.account()
 *     const res = await server.app.inject({ url: '/api/v1/token/list', headers: parent.headers })
 *     const check = await server.http({ url: '/v1/forward-auth', headers: { ...parent.headers, 'x-original-uri': '/api/v1/bot/list' } })
 *   }))
 *
 * Forward-auth checks must go through `http`: in production the server's
 * own request listener answers them (buildApp's serverFactory), and inject()
 * never reaches it (Fastify's forward-auth routes answer instead).
 *
 * Needs the policy bundle: `npm run policy:build`.
 */
import { randomBytes } from 'node:crypto'
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { createAuthorizer, type Authorizer, type AuthorizerOptions } from '../../src/authorizer/index.js'
import type { AuthorizerEvent } from '../../src/authorizer/options.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { DEFAULT_BUNDLE_PATH, PolicyEngine } from '../../src/policy/engine.js'
import { buildApp, type AppOptions } from '../../src/server/app.js'
import { createMetrics, type ServerMetrics } from '../../src/server/metrics.js'
import { Sessions } from '../../src/sessions/index.js'
import type { Store } from '../../src/store/index.js'

export interface TestAccount {
  id: string
  email: string
  token: string
  keyId: string
  headers: { authorization: string }
}

export interface AccountRequest {
  parentId?: string
  role?: 'user' | 'admin'
  scopes?: string[]
  expiresInSeconds?: number
}

export interface TestServer {
  app: FastifyInstance
  authorizer: Authorizer
  store: Store
  metrics: ServerMetrics
  sessions: Sessions
  /** The authorizer's cache events (invalidations, resyncs, stale values served), oldest first. */
  events: AuthorizerEvent[]
  /** Moves the clock the authorizer and the server share. */
  advance(seconds: number): void
  now(): Date
  /** A new account with one key. */
  account(request?: AccountRequest): Promise<TestAccount>
  /** A request over real HTTP; the app listens on a free port of 127.0.0.1 from the first call on. */
  http(request: HttpRequest): Promise<HttpAnswer>
}

/** What `http` sends: inject()'s shape. The URL is sent as it is (no dot-segment removal, unlike fetch). */
export interface HttpRequest {
  method?: string
  url: string
  headers?: OutgoingHttpHeaders
  /** An object is sent as JSON. */
  payload?: string | object
}

/** What `http` answers: inject()'s shape. */
export interface HttpAnswer {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: string
  json(): any
}

let policy: Promise<PolicyEngine> | undefined

/** Loaded once per test process: instantiating the WASM module is the slow part. */
export async function testPolicy (): Promise<PolicyEngine> {
  policy ??= PolicyEngine.fromBundle(DEFAULT_BUNDLE_PATH).catch((error: unknown) => {
    throw new Error(`cannot load ${DEFAULT_BUNDLE_PATH}: run \`npm run policy:build\` first`, { cause: error })
  })
  return await policy
}

let accounts = 0

/**
 * `policy`: the authorizer's, instead of the built bundle's.
 * `throttle`: the failed-authentication throttle, off unless given (tests
 * send many bad credentials from one address; test/limits/ tests it).
 */
export async function testServer (t: Test, store: Store, { policy, throttle = false, ...options }: Partial<AppOptions> & { policy?: PolicyEngine } & Pick<AuthorizerOptions, 'throttle'> = {}): Promise<TestServer> {
  let offsetMs = 0
  const clock = (): number => Date.now() + offsetMs
  const metrics = createMetrics()
  const sessions = new Sessions({ db: store.database, secret: randomBytes(32), clock })
  const events: AuthorizerEvent[] = []
  const authorizer = await createAuthorizer({
    store,
    sessions,
    policy: policy ?? await testPolicy(),
    clock,
    throttle,
    onDecision: metrics.observeDecision,
    onEvent: (event) => { metrics.observeCacheEvent(event); events.push(event) }
  })
  metrics.watchCaches(authorizer)
  const app = buildApp({ authorizer, metrics, sessions, clock, ...options })
  const agent = new Agent({ keepAlive: true })
  let listening: Promise<number> | undefined
  t.teardown(async () => {
    agent.destroy()
    await app.close()
    await authorizer.close()
    await sessions.close()
  })
  const now = (): Date => new Date(clock())
  return {
    app,
    authorizer,
    store,
    metrics,
    sessions,
    events,
    now,
    advance (seconds) { offsetMs += seconds * 1000 },
    async account (request = {}) {
      const email = `user${++accounts}@example.com`
      const user = await createAccount(store, { email, parentId: request.parentId, role: request.role })
      const key = await issueKey(store, { userId: user.id, scopes: request.scopes, expiresInSeconds: request.expiresInSeconds }, now())
      return { id: user.id, email, token: key.token, keyId: key.id, headers: bearer(key.token) }
    },
    async http (request) {
      listening ??= app.listen({ host: '127.0.0.1', port: 0 }).then(() => (app.server.address() as AddressInfo).port)
      return await send(await listening, agent, request)
    }
  }
}

async function send (port: number, agent: Agent, { method = 'GET', url, headers = {}, payload }: HttpRequest): Promise<HttpAnswer> {
  const body = payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload)
  const json = typeof payload === 'object' && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, agent, method, path: url, headers: json ? { 'content-type': 'application/json', ...headers } : headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('error', reject)
      res.on('end', () => { resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

export function bearer (token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** Response headers that may differ between two otherwise identical answers. */
export function stableHeaders (headers: Record<string, unknown>): Record<string, unknown> {
  const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = headers
  return rest
}
