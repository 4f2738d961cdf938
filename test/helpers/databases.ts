/**
 * Run the same test on every database driver.
 *
 *   import t from 'tap'
 *   import { forEachDatabase } from '../helpers/databases.js'
 *
 *   t.test('revoked keys', (t) => forEachDatabase(t, async (t, db, store) => {
 *     // `store` sits on a fresh, migrated database of its own; nothing to clean up.
 *   }))
 *
 * Drivers: `pglite` (in memory) always, and `pg` when KEYGATE_TEST_DATABASE_URL
 * names a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/postgres);
 * with CI=true that variable is required. Since tap runs test files in
 * parallel, every pg database is a throwaway one (kg_<random>) created on that
 * server and dropped when its test ends. PGlite databases start from a
 * snapshot taken once per test process (initdb takes seconds; a snapshot, less
 * than one).
 *
 * test/store/pgbouncer.ts runs the store suite again through PgBouncer in
 * transaction mode: it sets KEYGATE_TEST_PGBOUNCER_URL, and `pg` is then the
 * only driver, its pool going through PgBouncer and its LISTEN straight to
 * the server (KEYGATE_LISTEN_DATABASE_URL, as in production).
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { PgliteDatabase } from '../../src/store/driver-pglite.js'
import { migrate, openDatabase, Store, type Database, type DatabaseOptions } from '../../src/store/index.js'

export interface TestDatabaseOptions {
  /** Apply the migrations (default false). */
  migrated?: boolean
  onError?: DatabaseOptions['onError']
  statementTimeoutMillis?: number
}

export interface TestDriver {
  name: 'pglite' | 'pg'
  /** A new database of its own, closed (and for pg dropped) when t ends. */
  open(t: Test, options?: TestDatabaseOptions): Promise<Database>
}

/** The PostgreSQL server the pg cases run on, if any. */
export const testServerUrl = process.env.KEYGATE_TEST_DATABASE_URL || undefined

export function testDatabases (): TestDriver[] {
  if (testServerUrl === undefined && process.env.CI === 'true') {
    throw new Error('CI=true but KEYGATE_TEST_DATABASE_URL is not set: the pg driver would go untested')
  }
  if (pooledServerUrl() !== undefined) return [{ name: 'pg', open: openPooled }]
  const drivers: TestDriver[] = [{ name: 'pglite', open: openPglite }]
  if (testServerUrl !== undefined) drivers.push({ name: 'pg', open: openPg })
  return drivers
}

/** Runs fn as a subtest per driver, each with a fresh migrated database. */
export async function forEachDatabase (t: Test, fn: (t: Test, db: Database, store: Store) => Promise<void>): Promise<void> {
  for (const driver of testDatabases()) {
    await t.test(driver.name, async (t) => {
      const db = await driver.open(t, { migrated: true })
      await fn(t, db, new Store(db))
    })
  }
}

/** The URL of a new empty database on the test server, dropped (connections and all) when t ends. */
export async function createTestDatabase (t: Test): Promise<string> {
  if (testServerUrl === undefined) throw new Error('createTestDatabase: KEYGATE_TEST_DATABASE_URL is not set')
  const name = `kg_${randomBytes(8).toString('hex')}`
  await onServer(`CREATE DATABASE ${name}`)
  t.teardown(async () => { await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) })
  const url = new URL(testServerUrl)
  url.pathname = `/${name}`
  return url.href
}

/** PgBouncer in front of the test server, when the suite runs through it (read when asked: the runner sets it after importing this module). */
function pooledServerUrl (): string | undefined {
  return process.env.KEYGATE_TEST_PGBOUNCER_URL || undefined
}

async function openPooled (t: Test, options: TestDatabaseOptions = {}): Promise<Database> {
  const { migrated, ...rest } = options
  const direct = await createTestDatabase(t)
  const pooled = new URL(pooledServerUrl() as string)
  pooled.pathname = new URL(direct).pathname
  const db = await openDatabase({ ...rest, databaseUrl: pooled.href, listenUrl: direct })
  t.teardown(async () => { await db.close() })
  if (migrated === true) await migrate(db)
  return db
}

async function openPg (t: Test, options: TestDatabaseOptions = {}): Promise<Database> {
  const { migrated, ...rest } = options
  const db = await openDatabase({ ...rest, databaseUrl: await createTestDatabase(t) })
  // Teardowns run last-in first-out: the database is closed before it is dropped.
  t.teardown(async () => { await db.close() })
  if (migrated === true) await migrate(db)
  return db
}

const snapshots = new Map<boolean, Promise<Blob>>()

async function openPglite (t: Test, options: TestDatabaseOptions = {}): Promise<Database> {
  const { migrated = false, ...rest } = options
  const db = await PgliteDatabase.open({
    dataDir: 'memory://',
    onError: rest.onError ?? ((error) => { process.emitWarning(error) }),
    loadDataDir: await snapshot(migrated)
  })
  t.teardown(async () => { await db.close() })
  return db
}

function snapshot (migrated: boolean): Promise<Blob> {
  let taken = snapshots.get(migrated)
  if (taken === undefined) {
    taken = (async () => {
      const db = migrated
        ? await PgliteDatabase.open({ dataDir: 'memory://', onError: () => {}, loadDataDir: await snapshot(false) })
        : await PgliteDatabase.open({ dataDir: 'memory://', onError: () => {} })
      try {
        if (migrated) await migrate(db)
        return await db.dumpDataDir()
      } finally {
        await db.close()
      }
    })()
    snapshots.set(migrated, taken)
  }
  return taken
}

async function onServer (sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testServerUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}
