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
