/**
 * A Keygate server with the audit stage wired in, as `keygate serve` wires it,
 * for `app.inject()`:
 *
 *   const server = await auditServer(t, store, { sinks: [{ type: 'postgres' }] })
 *   await server.app.inject(…)
 *   await server.audit.flush()
 */
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Audit, type AuditConfig } from '../../src/audit/index.js'
import { createAuthorizer, type Authorizer, type AuthorizerOptions } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { buildApp, type AppOptions } from '../../src/server/app.js'
import { createMetrics, type ServerMetrics } from '../../src/server/metrics.js'
import { Sessions } from '../../src/sessions/index.js'
import type { Store } from '../../src/store/index.js'
import { bearer, testPolicy, type AccountRequest, type TestAccount } from './server.js'

export interface AuditServer {
  app: FastifyInstance
  authorizer: Authorizer
  audit: Audit
  store: Store
  metrics: ServerMetrics
  sessions: Sessions
  /** What the stdout sink wrote. */
  stdout: string[]
  errors: Array<{ error: unknown; context: string }>
  account(request?: AccountRequest): Promise<TestAccount>
  /** The value of one sample of a metric, 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>
}

let accounts = 0

/** `extra.throttle`: the failed-authentication throttle, off unless given. */
export async function auditServer (t: Test, store: Store, config: Partial<AuditConfig> = {}, extra: { clock?: () => number; app?: Partial<AppOptions> } & Pick<AuthorizerOptions, 'throttle'> = {}): Promise<AuditServer> {
  const clock = extra.clock ?? Date.now
  const metrics = createMetrics()
  const stdout: string[] = []
  const errors: AuditServer['errors'] = []
  const sessions = new Sessions({ db: store.database, secret: randomBytes(32), clock })
  const audit = await Audit.open({
    store,
    config: { usageFlushIntervalMs: 60_000, flushIntervalMs: 60_000, ...config },
    registry: metrics.registry,
    stdout: { write: (chunk: string) => stdout.push(chunk) },
    onError: (error, context) => { errors.push({ error, context }) },
    cleanupIntervalMs: 0,
    clock
  })
  const authorizer = await createAuthorizer({
    store,
    sessions,
    policy: await testPolicy(),
    clock,
    throttle: extra.throttle ?? false,
    onDecision: (record) => {
      metrics.observeDecision(record)
      return audit.record(record)
    }
  })
  const app = buildApp({ authorizer, metrics, sessions, audit, clock: () => clock(), ...extra.app })
  t.teardown(async () => {
    await app.close()
    await authorizer.close()
    await audit.close()
    await sessions.close()
  })
  return {
    app,
    authorizer,
    audit,
    store,
    metrics,
    sessions,
    stdout,
    errors,
    async account (request = {}) {
      const email = `audit${++accounts}@example.com`
      const user = await createAccount(store, { email, parentId: request.parentId, role: request.role })
      const key = await issueKey(store, { userId: user.id, scopes: request.scopes, expiresInSeconds: request.expiresInSeconds }, new Date(clock()))
      return { id: user.id, email, token: key.token, keyId: key.id, headers: bearer(key.token) }
    },
    async metric (name, labels = {}) {
      const metric = metrics.registry.getSingleMetric(name)
      if (metric === undefined) return 0
      const { values } = await metric.get()
      const found = values.find((v) => Object.entries(labels).every(([k, value]) => String((v.labels as Record<string, unknown>)[k]) === value))
      return found?.value ?? 0
    }
  }
}
