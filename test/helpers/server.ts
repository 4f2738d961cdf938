/**
 * A Keygate server on a test store, for `app.inject()`:
 *
 *   t.test('…', (t) => forEachDatabase(t, async (t, _db, store) => {
 *     const server = await testServer(t, store)
 *     const parent = await server.account()
 *     const res = await server.app.inject({ url: '/api/v1/token/list', headers: parent.headers })
 *   }))
 *
 * Needs the policy bundle: `npm run policy:build`.
 */
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { createAuthorizer, type Authorizer, type AuthorizerOptions } from '../../src/authorizer/index.js'
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
  /** Moves the clock the authorizer and the server share. */
  advance(seconds: number): void
  now(): Date
  /** A new account with one key. */
  account(request?: AccountRequest): Promise<TestAccount>
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
 * `throttle`: the failed-authentication throttle, off unless given (tests
 * send many bad credentials from one address; test/limits/ tests it).
 */
export async function testServer (t: Test, store: Store, { throttle = false, ...options }: Partial<AppOptions> & Pick<AuthorizerOptions, 'throttle'> = {}): Promise<TestServer> {
  let offsetMs = 0
  const clock = (): number => Date.now() + offsetMs
  const metrics = createMetrics()
  const sessions = new Sessions({ db: store.database, secret: randomBytes(32), clock })
  const authorizer = await createAuthorizer({ store, sessions, policy: await testPolicy(), clock, throttle, onDecision: metrics.observeDecision })
  metrics.watchCaches(authorizer)
  const app = buildApp({ authorizer, metrics, sessions, clock, ...options })
  t.teardown(async () => {
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
    now,
    advance (seconds) { offsetMs += seconds * 1000 },
    async account (request = {}) {
      const email = `user${++accounts}@example.com`
      const user = await createAccount(store, { email, parentId: request.parentId, role: request.role })
      const key = await issueKey(store, { userId: user.id, scopes: request.scopes, expiresInSeconds: request.expiresInSeconds }, now())
      return { id: user.id, email, token: key.token, keyId: key.id, headers: bearer(key.token) }
    }
  }
}

export function bearer (token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** Response headers that may differ between two otherwise identical answers. */
export function stableHeaders (headers: Record<string, unknown>): Record<string, unknown> {
  const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = headers
  return rest
}
