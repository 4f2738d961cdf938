import type { Database } from './types.js'

export interface DatabaseOptions {
  /** A PostgreSQL server (`postgres://…`). Without it (or when empty), the embedded PGlite database in `dataDir` is used. */
  databaseUrl?: string
  /**
   * pg: streaming replicas of databaseUrl. Cold lookups (Database.read) go to
   * one that has replayed every change this instance has made or heard of;
   * to the primary otherwise.
   */
  replicaUrls?: string[]
  /** pg: a direct connection for LISTEN, when databaseUrl goes through a pooler in transaction mode (PgBouncer). */
  listenUrl?: string
  /** Embedded database folder (default `.keygate/data`); `memory://` keeps nothing. Only one process may open a folder. */
  dataDir?: string
  /** pg: most connections in the pool (default 10; LISTEN uses one more). */
  maxConnections?: number
  /** pg: how long to wait for a connection before failing with StoreUnavailableError (default 5000). */
  connectionTimeoutMillis?: number
  /** pg: longest a statement may run (default 5000); raise it to run slow migrations. */
  statementTimeoutMillis?: number
  /**
   * Failures outside any query: an idle connection lost, the LISTEN connection
   * dropped or failing to reconnect, a listen callback that threw.
   * Default: `process.emitWarning`.
   */
  onError?: (error: Error) => void
}

export const DEFAULT_DATA_DIR = '.keygate/data'

/** Opens PostgreSQL (with `databaseUrl`) or the embedded PGlite database; call `close()` when done. */
export async function openDatabase (options: DatabaseOptions = {}): Promise<Database> {
  const onError = options.onError ?? ((error: Error) => { process.emitWarning(error) })
  if (options.databaseUrl !== undefined && options.databaseUrl !== '') {
    const { PgDatabase } = await import('./driver-pg.js')
    return new PgDatabase({
      databaseUrl: options.databaseUrl,
      replicaUrls: options.replicaUrls ?? [],
      listenUrl: options.listenUrl === '' ? undefined : options.listenUrl,
      maxConnections: positiveInteger('maxConnections', options.maxConnections, 10),
      connectionTimeoutMillis: positiveInteger('connectionTimeoutMillis', options.connectionTimeoutMillis, 5_000),
      statementTimeoutMillis: positiveInteger('statementTimeoutMillis', options.statementTimeoutMillis, 5_000),
      onError
    })
  }
  if ((options.replicaUrls ?? []).length > 0 || (options.listenUrl ?? '') !== '') {
    throw new TypeError('openDatabase: replicaUrls and listenUrl need databaseUrl (PostgreSQL)')
  }
  // Loaded only when used: PGlite brings a WASM build of PostgreSQL.
  const { PgliteDatabase } = await import('./driver-pglite.js')
  return await PgliteDatabase.open({ dataDir: options.dataDir ?? DEFAULT_DATA_DIR, onError })
}

function positiveInteger (name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`openDatabase: ${name} must be a positive integer`)
  return value
}
