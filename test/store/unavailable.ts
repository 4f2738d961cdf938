import t, { type Test } from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import { createTestDatabase } from '../helpers/databases.js'
import { missing } from '../helpers/requires.js'
import { until } from '../helpers/until.js'
import { openDatabase, openStore, Store, StoreUnavailableError, type Database, type DatabaseOptions } from '../../src/store/index.js'

async function open (t: Test, options: DatabaseOptions): Promise<Database> {
  const db = await openDatabase(options)
  t.teardown(async () => { await db.close() })
  return db
}

/** A TCP server that accepts connections and never says a word. */
async function silentServer (t: Test): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return (server.address() as { port: number }).port
}

/** A TCP proxy to the test server whose existing connections can be made to go silent (a network partition). */
async function partitionableProxy (t: Test, target: URL): Promise<{ url: string; partition: () => void }> {
  const connections: Array<{ silent: boolean }> = []
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname)
    const connection = { silent: false }
    connections.push(connection)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => { client.destroy(); upstream.destroy() })
    }
    client.on('data', (chunk) => upstream.write(chunk))
    upstream.on('data', (chunk) => { if (!connection.silent) client.write(chunk) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const url = new URL(target)
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`
  return { url: url.href, partition: () => { for (const c of connections) c.silent = true } }
}

t.test('nothing listening: StoreUnavailableError at once', async (t) => {
  const db = await open(t, { databaseUrl: 'postgres://postgres@127.0.0.1:1/keygate', connectionTimeoutMillis: 2_000 })
  const error = await db.query('SELECT 1').catch((e: unknown) => e)
  t.ok(error instanceof StoreUnavailableError, 'a StoreUnavailableError')
  t.match(error, { code: 'STORE_UNAVAILABLE', cause: { code: 'ECONNREFUSED' } }, 'the refusal itself, not a timeout')

  const store = new Store(db)
  await t.rejects(store.findKeyByHash(Buffer.alloc(32)), StoreUnavailableError, 'through the Store too')
  await t.rejects(store.createUser({ email: 'a@example.com' }), StoreUnavailableError)
  await t.rejects(db.transaction(async () => 'never'), StoreUnavailableError)
  await t.rejects(db.listen('kg_test', () => {}), StoreUnavailableError)
  await t.rejects(openStore({ databaseUrl: 'postgres://postgres@127.0.0.1:1/keygate' }), StoreUnavailableError,
    'openStore, which migrates')
})

t.test('a server that never answers: StoreUnavailableError after connectionTimeoutMillis', async (t) => {
  const port = await silentServer(t)
  const db = await open(t, { databaseUrl: `postgres://postgres@127.0.0.1:${port}/keygate`, connectionTimeoutMillis: 300 })
  const error = await new Store(db).findUserById('usr_00000000000000000000').catch((e: unknown) => e)
  t.ok(error instanceof StoreUnavailableError, 'a StoreUnavailableError')
  t.match(error, { cause: { message: /timeout/i } }, 'given up by the connection timeout')
})

t.test('with a server', async (t) => {
  if (missing(t, 'postgres')) return
  t.test('a statement over statementTimeoutMillis is cancelled, and the pool goes on', async (t) => {
    const db = await open(t, { databaseUrl: await createTestDatabase(t), statementTimeoutMillis: 200 })
    await t.rejects(db.query('SELECT pg_sleep(3)'), { name: 'StoreUnavailableError', cause: { code: '57014' } })
    await t.rejects(db.transaction(async (tx) => { await tx.query('SELECT pg_sleep(3)') }), StoreUnavailableError)
    t.same((await db.query('SELECT 1 AS one')).rows, [{ one: 1 }])
  })

  t.test('connections killed under the pool: reported to onError, the process lives on', async (t) => {
    const url = await createTestDatabase(t)
    const errors: Error[] = []
    const db = await open(t, { databaseUrl: url, onError: (error) => errors.push(error) })
    const got: string[] = []
    await db.listen('kg_test', (payload) => got.push(payload))
    await Promise.all([1, 2, 3].map(async () => await db.query('SELECT pg_sleep(0.05)')))

    const admin = await open(t, { databaseUrl: url })
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
    await until(() => errors.length >= 4) // three pool connections and the listener
    t.ok(errors.every((e) => e instanceof StoreUnavailableError), 'idle pool connections and the listener, as StoreUnavailableError')
    t.same((await db.query('SELECT 2 AS two')).rows, [{ two: 2 }], 'new connections replace them')

    // The listener reconnects and listens again; notifications sent while it was down are lost.
    await until(() => {
      // Not awaited, so it may outlive the test: its failure (the pool closed, a connect timeout) must not end the process.
      admin.query("SELECT pg_notify('kg_test', 'back')").catch(() => {})
      return got.includes('back')
    })
    t.pass('the listener is back')
  })

  t.test('a server gone silent mid-query: StoreUnavailableError, and that connection is not reused', async (t) => {
    const proxy = await partitionableProxy(t, new URL(await createTestDatabase(t)))
    const db = await open(t, { databaseUrl: proxy.url, maxConnections: 1, statementTimeoutMillis: 200, onError: () => {} })
    t.same((await db.query('SELECT 1 AS one')).rows, [{ one: 1 }])
    proxy.partition()
    // statement_timeout cannot help (the server's answer never arrives): the client-side query timeout does.
    await t.rejects(db.query('SELECT 2'), { name: 'StoreUnavailableError', message: /timeout/i })
    t.same((await db.query('SELECT 3 AS three')).rows, [{ three: 3 }], 'the only pool slot got a new connection')
  })

  t.test('a broken connection inside a transaction is discarded, not reused', async (t) => {
    const url = await createTestDatabase(t)
    const db = await open(t, { databaseUrl: url, maxConnections: 1, onError: () => {} })
    const admin = await open(t, { databaseUrl: url })
    await t.rejects(db.transaction(async (tx) => {
      const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid])
      await tx.query('SELECT 1')
    }), StoreUnavailableError)
    t.same((await db.query('SELECT 3 AS three')).rows, [{ three: 3 }])
  })
})
