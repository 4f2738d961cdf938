/**
 * Keygate behind a real PgBouncer in transaction mode, as an operator runs
 * it: KEYGATE_DATABASE_URL through the pooler, KEYGATE_LISTEN_DATABASE_URL
 * straight to the server (LISTEN cannot pass through transaction pooling).
 */
import pg from 'pg'
import t from 'tap'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { openDatabase, openStore } from '../../src/store/index.js'
import { createTestDatabase } from '../helpers/databases.js'
import { servedInstance } from '../helpers/instances.js'
import { startPgbouncer, type PgBouncer } from '../helpers/pgbouncer.js'
import { missing } from '../helpers/requires.js'
import { bearer } from '../helpers/server.js'
import { until } from '../helpers/until.js'

/** The URL of the same database through PgBouncer. */
function through (bouncer: PgBouncer, direct: string): string {
  return bouncer.url(new URL(direct).pathname.slice(1))
}

/** Session state a client of a pooled server connection could leave behind for the next. */
interface SessionState {
  pid: number
  prepared: number
  advisoryLocks: number
  usedTempSchema: boolean
  listening: number
  /** Settings changed by SET (without LOCAL) on this connection, beyond those PgBouncer itself tracks per client. */
  settings: string[]
}

async function sessionState (url: string): Promise<SessionState> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    const { rows: [state] } = await client.query<SessionState>(`SELECT
      pg_backend_pid() AS pid,
      (SELECT count(*)::int FROM pg_prepared_statements) AS prepared,
      (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS "advisoryLocks",
      pg_my_temp_schema() <> 0 AS "usedTempSchema",
      (SELECT count(*)::int FROM pg_listening_channels()) AS listening,
      ARRAY(SELECT name FROM pg_settings WHERE source = 'session'
        AND name NOT IN ('application_name', 'client_encoding', 'DateStyle', 'TimeZone', 'standard_conforming_strings')
        ORDER BY name) AS settings`)
    return state as SessionState
  } finally {
    await client.end()
  }
}

t.test('two instances behind PgBouncer: a revocation through one reaches the other, and no session state is left on the pooled connection', async (t) => {
  if (missing(t, 'postgres') || missing(t, 'pgbouncer')) return
  const direct = await createTestDatabase(t)
  const server = new URL(direct)
  // One server connection for every client: whatever one transaction leaves on it, the next one meets.
  const bouncer = await startPgbouncer(t, { databases: { '*': `host=${server.hostname} port=${server.port || 5432}` }, poolSize: 1 })
  const pooled = through(bouncer, direct)
  const before = await sessionState(pooled)

  const env = { KEYGATE_DATABASE_URL: pooled, KEYGATE_LISTEN_DATABASE_URL: direct }
  // Both migrate at start (the advisory lock must be the transaction's own).
  const [a, b] = [await servedInstance(t, env), await servedInstance(t, env)]
  const setup = await openStore({ databaseUrl: direct, migrate: false })
  t.teardown(async () => { await setup.close() })
  const admin = await createAccount(setup, { email: 'admin@example.com', role: 'admin' })
  const adminKey = await issueKey(setup, { userId: admin.id })

  const call = async (instance: { url: string }, path: string, token: string, body?: unknown): Promise<{ status: number, body: any }> => {
    const response = await fetch(`${instance.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...bearer(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await response.text()
    return { status: response.status, body: text === '' ? null : JSON.parse(text) }
  }
  const forwardAuth = async (instance: { url: string }, token: string): Promise<number> => {
    const response = await fetch(`${instance.url}/v1/forward-auth`, {
      headers: { ...bearer(token), 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/v1/bot/list', 'x-forwarded-proto': 'https' }
    })
    await response.arrayBuffer()
    return response.status
  }

  // Management through a: writes in transactions, a session minted, keys listed (paginated reads).
  const user = await call(a, '/admin/v1/user/create', adminKey.token, { email: 'user@example.com' })
  t.equal(user.status, 200)
  const key = await call(a, `/admin/v1/user/${user.body.id as string}/token/create`, adminKey.token, {})
  t.equal(key.status, 200)
  const session = await call(a, '/api/v1/session/create', key.body.token, {})
  t.equal(session.status, 200)
  t.equal((await call(a, '/api/v1/token/list', key.body.token)).status, 200)

  t.equal(await forwardAuth(b, key.body.token), 200, 'b knows the key (and caches it)')
  t.equal(await forwardAuth(b, session.body.token), 200, 'and the session')
  t.equal((await call(a, `/api/v1/token/${key.body.id as string}/delete`, key.body.token, {})).status, 200, 'revoked through a')
  t.equal(await forwardAuth(a, key.body.token), 401)
  // b drops its cached key on the NOTIFY it hears on its direct connection.
  let status = 0
  await until(() => { void forwardAuth(b, key.body.token).then((s) => { status = s }, () => {}); return status === 401 }, 5_000)
  t.equal(status, 401, 'b refuses it: the notification reached it past the pooler')

  const after = await sessionState(pooled)
  t.equal(after.pid, before.pid, 'the probe sees the server connection every instance used')
  t.same({ ...after, pid: 0 }, { pid: 0, prepared: 0, advisoryLocks: 0, usedTempSchema: false, listening: 0, settings: [] },
    'no prepared statement, advisory lock, temporary table, LISTEN or SET left on it')
})

t.test('behind transaction pooling, KEYGATE_LISTEN_DATABASE_URL is what keeps session state (statement_timeout) off the pooled connections', async (t) => {
  if (missing(t, 'postgres') || missing(t, 'pgbouncer')) return
  const direct = await createTestDatabase(t)
  const server = new URL(direct)
  const bouncer = await startPgbouncer(t, { databases: { '*': `host=${server.hostname} port=${server.port || 5432}` }, poolSize: 1 })
  const pooled = through(bouncer, direct)

  // Not told it is pooled, the driver sends statement_timeout at connect: session state, which PgBouncer refuses.
  const unaware = await openDatabase({ databaseUrl: pooled, onError: () => {} })
  t.teardown(async () => { await unaware.close() })
  await t.rejects(unaware.query('SELECT 1'), { name: 'StoreUnavailableError', message: /statement_timeout/ })

  const aware = await openDatabase({ databaseUrl: pooled, listenUrl: direct, onError: () => {} })
  t.teardown(async () => { await aware.close() })
  t.same((await aware.query('SELECT 1 AS one')).rows, [{ one: 1 }])
  t.same((await sessionState(pooled)).settings, [], 'nothing SET on the server connection')
})
