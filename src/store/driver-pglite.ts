import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { PGlite, types } from '@electric-sql/pglite'
import { StoreUnavailableError } from './errors.js'
import { assertChannel, deliver, guard, parseInt8, toStoreError } from './driver-shared.js'
import type { Database, ListenOptions, SqlClient } from './types.js'

export interface PgliteOptions {
  dataDir: string
  onError: (error: Error) => void
  /** Start from a snapshot taken with dumpDataDir() instead of an empty cluster (much faster than initdb). */
  loadDataDir?: Blob
}

/**
 * Embedded PostgreSQL (WASM) in this process. It has a single connection:
 * PGlite itself queues queries behind an open transaction, so a transaction
 * callback must use its `tx` argument only — a query on the database from
 * inside it would wait forever.
 */
export class PgliteDatabase implements Database {
  readonly driver = 'pglite'
  readonly #pglite: PGlite
  readonly #onError: (error: Error) => void
  readonly #unlock: () => void

  private constructor (pglite: PGlite, onError: (error: Error) => void, unlock: () => void) {
    this.#pglite = pglite
    this.#onError = onError
    this.#unlock = unlock
  }

  static async open (options: PgliteOptions): Promise<PgliteDatabase> {
    const inMemory = options.dataDir.startsWith('memory://')
    if (!inMemory) mkdirSync(options.dataDir, { recursive: true })
    const unlock = inMemory ? () => {} : lockDataDir(options.dataDir)
    try {
      const pglite = await guard(async () => await PGlite.create(options.dataDir, {
        loadDataDir: options.loadDataDir,
        // Same JS types as the pg driver: bytea as Buffer (not Uint8Array), int8 as number or bigint.
        parsers: {
          [types.BYTEA]: (text: string) => Buffer.from(text.slice(2), 'hex'),
          [types.INT8]: parseInt8
        }
      }))
      return new PgliteDatabase(pglite, options.onError, unlock)
    } catch (error) {
      unlock()
      throw error
    }
  }

  async query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return await guard(async () => await this.#pglite.query<R>(sql, params))
  }

  /** One database, no replicas: what query does (not through it, so that a spy on either counts a statement once). */
  async read<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return await guard(async () => await this.#pglite.query<R>(sql, params))
  }

  async exec (sql: string): Promise<void> {
    await guard(async () => await this.#pglite.exec(sql))
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    let failure: { error: unknown } | undefined
    try {
      return await this.#pglite.transaction(async (tx) => {
        try {
          return await fn({
            query: async (sql, params) => await guard(async () => await tx.query(sql, params)),
            exec: async (sql) => { await guard(async () => await tx.exec(sql)) }
          })
        } catch (error) {
          failure = { error }
          throw error
        }
      })
    } catch (error) {
      // fn's own error goes through as it is; only PGlite's are classified.
      if (failure !== undefined && failure.error === error) throw error
      throw toStoreError(error)
    }
  }

  /** In this process: never loses a notification, so `options.onReconnect` is never called. */
  async listen (channel: string, onPayload: (payload: string) => void, _options?: ListenOptions): Promise<() => Promise<void>> {
    assertChannel(channel)
    const unlisten = await guard(async () => await this.#pglite.listen(channel, (payload) => {
      deliver(onPayload, payload, this.#onError)
    }))
    return async () => {
      if (!this.#pglite.closed) await unlisten()
    }
  }

  /** A snapshot of the whole database (an uncompressed tarball of its data directory). */
  async dumpDataDir (): Promise<Blob> {
    return await guard(async () => await this.#pglite.dumpDataDir('none'))
  }

  async close (): Promise<void> {
    if (this.#pglite.closed) return
    try {
      await this.#pglite.close()
    } finally {
      this.#unlock()
    }
  }
}

/**
 * PGlite does not stop two processes from opening the same data directory,
 * and each would silently keep its own copy of the data. A lock file beside
 * the directory, holding the owner's pid, refuses the second one.
 */
function lockDataDir (dataDir: string): () => void {
  const lockFile = `${resolve(dataDir)}.lock`
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' })
      return () => { rmSync(lockFile, { force: true }) }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = readOwner(lockFile)
    if (owner === undefined) continue
    // An empty file: its owner is between creating and writing it.
    if (owner === '' || isRunning(Number(owner))) {
      throw new StoreUnavailableError(
        `store unavailable: the embedded database ${dataDir} is in use by process ${owner || '?'} (${lockFile}); ` +
        'stop it, or share a PostgreSQL server (KEYGATE_DATABASE_URL) between processes')
    }
    // Left behind by a process that ended without closing the database.
    rmSync(lockFile, { force: true })
  }
  throw new StoreUnavailableError(`store unavailable: could not lock the embedded database ${dataDir} (${lockFile})`)
}

/** The pid written in the lock file, or undefined when the file has gone meanwhile. */
function readOwner (lockFile: string): string | undefined {
  try {
    return readFileSync(lockFile, 'utf8').trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function isRunning (pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
