/**
 * The store suite again, through a real PgBouncer in transaction mode: every
 * statement of a test may go to another server connection, and every server
 * connection serves other clients in between, so any session state the
 * store relied on (a named prepared statement, a SET, a session advisory
 * lock, a temporary table) would break a test here. LISTEN goes straight to
 * the server, as KEYGATE_LISTEN_DATABASE_URL does in production.
 *
 * The files are imported into this process after KEYGATE_TEST_PGBOUNCER_URL
 * is set, which makes `pg` through PgBouncer their only driver
 * (test/helpers/databases.ts).
 */
import t from 'tap'
import { testServerUrl } from '../helpers/databases.js'
import { startPgbouncer } from '../helpers/pgbouncer.js'
import { missing } from '../helpers/requires.js'

/** Every store test that runs on the pg driver (pglite.ts is PGlite's own). */
const SUITE = ['changes.ts', 'database.ts', 'keys.ts', 'migrate.ts', 'pagination.ts', 'transaction.ts', 'unavailable.ts', 'users.ts']

if (!missing(t, 'postgres') && !missing(t, 'pgbouncer')) {
  const server = new URL(testServerUrl as string)
  // Two server connections: statements of one client land on different ones, between other clients' transactions.
  const bouncer = await startPgbouncer(t, { databases: { '*': `host=${server.hostname} port=${server.port || 5432}` }, poolSize: 2 })
  process.env.KEYGATE_TEST_PGBOUNCER_URL = bouncer.url('postgres')
  for (const file of SUITE) await import(new URL(file, import.meta.url).href)
}
