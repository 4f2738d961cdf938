import { createHash } from 'node:crypto'
import { readFile, readdir } from 'node:fs/promises'
import type { Database } from './types.js'

/** `migrations/` at the package root, from src/store/ and from dist/store/ alike. */
export const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url)

/** Serializes migrators across processes and instances (an arbitrary constant: "kgmi"). */
const MIGRATION_LOCK = 0x6b676d69

const FILE_NAME = /^(\d{3})_[a-z0-9_]+\.sql$/

interface Migration {
  name: string
  sql: string
  checksum: string
}

/**
 * Applies the migrations not yet recorded in `keygate_migrations`, in order,
 * in one transaction, and returns their names (e.g. `001_users_and_keys`).
 *
 * Safe to run from several processes at once: the transaction first takes an
 * advisory lock, so a second migrator waits (up to the statement timeout),
 * then finds the work done. A migration changed after it was applied is an
 * error. Migration files must not contain BEGIN/COMMIT or statements that
 * cannot run in a transaction (CREATE INDEX CONCURRENTLY).
 */
export async function migrate (db: Database, options: { directory?: URL } = {}): Promise<string[]> {
  const migrations = await readMigrations(options.directory ?? MIGRATIONS_DIR)
  return await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await tx.exec(`CREATE TABLE IF NOT EXISTS keygate_migrations (
      name       text PRIMARY KEY,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const { rows } = await tx.query<{ name: string; checksum: string }>('SELECT name, checksum FROM keygate_migrations')
    const recorded = new Map(rows.map((row) => [row.name, row.checksum]))
    const applied: string[] = []
    for (const migration of migrations) {
      const checksum = recorded.get(migration.name)
      if (checksum === migration.checksum) continue
      if (checksum !== undefined) {
        throw new Error(`migration ${migration.name} was changed after it was applied; add a new migration instead`)
      }
      await tx.exec(migration.sql)
      await tx.query('INSERT INTO keygate_migrations (name, checksum) VALUES ($1, $2)', [migration.name, migration.checksum])
      applied.push(migration.name)
    }
    return applied
  })
}

async function readMigrations (folder: URL): Promise<Migration[]> {
  const directory = folder.href.endsWith('/') ? folder : new URL(`${folder.href}/`)
  const files = (await readdir(directory)).filter((file) => file.endsWith('.sql')).sort()
  const numbers = new Set<string>()
  const migrations: Migration[] = []
  for (const file of files) {
    const number = FILE_NAME.exec(file)?.[1]
    if (number === undefined) throw new Error(`migration file ${file}: expected NNN_lower_case_name.sql`)
    if (numbers.has(number)) throw new Error(`migration file ${file}: another migration is numbered ${number}`)
    numbers.add(number)
    const sql = await readFile(new URL(file, directory), 'utf8')
    // Line endings may change on checkout (Windows); the checksum should not.
    const checksum = createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex')
    migrations.push({ name: file.slice(0, -'.sql'.length), sql, checksum })
  }
  return migrations
}
