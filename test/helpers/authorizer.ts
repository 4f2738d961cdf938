/**
 * An authorizer on a test database, with the compiled policy and a clock the
 * test moves, and a count of the SQL statements it sends to the store.
 */
import type { Test } from 'tap'
import { createAuthorizer, type Authorizer, type AuthorizeRequest } from '../../src/authorizer/index.js'
import type { AuthorizerEvent } from '../../src/authorizer/options.js'
import { until } from './until.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { testPolicy } from './server.js'

export { testPolicy }
import { Store, type Database, type SqlClient, type UserRecord } from '../../src/store/index.js'

export interface Harness {
  authorizer: Authorizer
  store: Store
  /** Statements sent to the database through the authorizer's store (in transactions too) since the last reset. */
  queries: string[]
  clock: { now: number }
  /** Cache events (invalidations announced by the store, …), oldest first. */
  events: AuthorizerEvent[]
  /** An account and a full-access key for it, once the store has announced both to the authorizer. */
  account(request: { email: string; parentId?: string | null; role?: 'user' | 'admin' }, scopes?: string[] | null): Promise<{ user: UserRecord; key: string; keyId: string }>
  authorize(request: Partial<AuthorizeRequest> & { key?: string; headers?: AuthorizeRequest['headers'] }): ReturnType<Authorizer['authorize']>
}

/** The failed-authentication throttle is off unless `options.throttle` says otherwise. */
export async function harness (t: Test, db: Database, options: Pick<AuthorizerOptions, 'throttle'> = {}): Promise<Harness> {
  const queries: string[] = []
  const count = <C extends SqlClient>(client: C): SqlClient => ({
    query: async (sql, params) => { queries.push(sql); return await client.query(sql, params) },
    exec: async (sql) => { queries.push(sql); await client.exec(sql) }
  })
  const counted: Database = {
    driver: db.driver,
    ...count(db),
    read: async (sql, params) => { queries.push(sql); return await db.read(sql, params) },
    // A transaction's statements are the store's queries too: a "no store query" assertion must see them.
    transaction: async (fn) => await db.transaction(async (tx) => await fn(count(tx))),
    listen: async (channel, onPayload, options) => await db.listen(channel, onPayload, options),
    close: async () => {}
  }
  const clock = { now: Date.now() }
  const events: AuthorizerEvent[] = []
  const store = new Store(counted)
  const authorizer = await createAuthorizer({ store, policy: await testPolicy(), clock: () => clock.now, throttle: options.throttle ?? false, onEvent: (event) => { events.push(event) } })
  t.teardown(async () => { await authorizer.close() })
  // Setup goes through its own Store so it does not count as the authorizer's queries.
  const setup = new Store(db)
  return {
    authorizer,
    store: setup,
    queries,
    clock,
    events,
    async account (request, scopes = null) {
      const user = await createAccount(setup, request)
      const issued = await issueKey(setup, { userId: user.id, scopes }, new Date(clock.now))
      // The store announces the account and the key (in that order): past them, nothing drops what a test looks up next.
      await until(() => events.some((e) => e.type === 'invalidated' && e.change.type === 'key' && e.change.id === issued.id))
      return { user, key: issued.token, keyId: issued.id }
    },
    async authorize ({ key, headers = {}, method = 'GET', path = '/api/v1/bot/list', scheme = 'https', client }) {
      const all = key === undefined ? headers : { authorization: `Bearer ${key}`, ...headers }
      return await authorizer.authorize({ method, path, headers: all, scheme, client })
    }
  }
}

/** What a client can observe of a decision. */
export function visible (decision: { allow: boolean; status: number; code: string }): { allow: boolean; status: number; code: string } {
  return { allow: decision.allow, status: decision.status, code: decision.code }
}
