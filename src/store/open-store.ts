import { openDatabase, type DatabaseOptions } from './database.js'
import { migrate } from './migrate.js'
import { Store } from './store.js'

export interface StoreOptions extends DatabaseOptions {
  /** Apply pending migrations first (default true; safe with several instances). */
  migrate?: boolean
}

/** Opens the database, applies pending migrations, and returns a Store whose close() closes the database. */
export async function openStore (options: StoreOptions = {}): Promise<Store> {
  const db = await openDatabase(options)
  try {
    if (options.migrate !== false) await migrate(db)
  } catch (error) {
    await db.close()
    throw error
  }
  return new Store(db)
}
