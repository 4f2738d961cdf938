/**
 * Several Keygate instances on one database, as in production: each with its
 * own store connection (pool and LISTEN connection on PostgreSQL; on PGlite,
 * one in-process database they share) and its own caches.
 *
 *   const { setup, instances } = await sharedInstances(t, driver, 3)
 *   // setup: a Store of its own for arranging data; instances[i].authorizer …
 */
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { loadConfig, sessionSettingsOf } from '../../src/config/index.js'
import { start, type RunningServer } from '../../src/server/serve.js'
import { createAuthorizer, type Authorizer, type AuthorizerEvent, type AuthorizerOptions } from '../../src/authorizer/index.js'
import { Sessions } from '../../src/sessions/index.js'
import { openStore, Store } from '../../src/store/index.js'
import { createTestDatabase, type TestDriver } from './databases.js'
import { testPolicy } from './authorizer.js'

export interface Instance {
  authorizer: Authorizer
  sessions: Sessions
  store: Store
  events: AuthorizerEvent[]
}

export interface SharedInstances {
  /** For arranging data; not any instance's. */
  setup: Store
  instances: Instance[]
  /** The database URL (pg only). */
  url: string | undefined
}

export async function sharedInstances (
  t: Test, driver: TestDriver, count: number, options: Partial<AuthorizerOptions> = {}
): Promise<SharedInstances> {
  const secret = randomBytes(32)
  let setup: Store
  let url: string | undefined
  let storeFor: () => Promise<Store>
  if (driver.name === 'pg') {
    url = await createTestDatabase(t)
    const databaseUrl = url
    setup = await openStore({ databaseUrl })
    storeFor = async () => await openStore({ databaseUrl, migrate: false, onError: () => {} })
  } else {
    const db = await driver.open(t, { migrated: true })
    setup = new Store(db)
    storeFor = async () => new Store(db)
  }
  const instances: Instance[] = []
  for (let i = 0; i < count; i++) {
    const store = await storeFor()
    const sessions = new Sessions({ db: store.database, secret })
    await sessions.listen()
    const events: AuthorizerEvent[] = []
    const authorizer = await createAuthorizer({
      store,
      sessions,
      policy: await testPolicy(),
      onEvent: (event) => { events.push(event) },
      ...options
    })
    instances.push({ authorizer, sessions, store, events })
  }
  t.teardown(async () => {
    for (const { authorizer, sessions, store } of instances) {
      await authorizer.close()
      await sessions.close()
      if (driver.name === 'pg') await store.close()
    }
    if (driver.name === 'pg') await setup.close()
  })
  return { setup, instances, url }
}

/**
 * `keygate serve` in this process (start() with loadConfig, as the CLI does)
 * on an ephemeral port, from Keygate's variables: for tests of how
 * instances are wired to their databases (KEYGATE_DATABASE_URL,
 * KEYGATE_LISTEN_DATABASE_URL, …). Closed when t ends.
 */
export async function servedInstance (t: Test, env: Record<string, string>): Promise<RunningServer> {
  const config = loadConfig({
    KEYGATE_PORT: '0',
    KEYGATE_LOG_LEVEL: 'silent',
    KEYGATE_SIGNING_SECRET: 'a'.repeat(64),
    KEYGATE_THROTTLE_CLIENT: 'off',
    KEYGATE_THROTTLE_PREFIX: 'off',
    ...env
  })
  const server = await start({ ...config, sessions: await sessionSettingsOf(config) }, { stdout: { write: () => true } })
  t.teardown(async () => { await server.close() })
  return server
}
