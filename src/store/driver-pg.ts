import pg from 'pg'
import { from as copyFromStdin } from 'pg-copy-streams'
import { StoreUnavailableError } from './errors.js'
import { assertChannel, deliver, guard, parseInt8, toStoreError } from './driver-shared.js'
import { ReadRouter, type ReadStats } from './replicas.js'
import type { Database, ListenOptions, SqlClient } from './types.js'

export interface PgOptions {
  databaseUrl: string
  /** Streaming replicas of databaseUrl that may answer `read` (see ReadRouter). */
  replicaUrls: string[]
  /**
   * A direct connection for LISTEN when databaseUrl goes through a pooler in
   * transaction mode (PgBouncer), where LISTEN cannot work. Set, it also means
   * "pooled": no session state is set at connect (statement_timeout is then
   * the server's, e.g. `ALTER ROLE … SET statement_timeout`).
   */
  listenUrl: string | undefined
  maxConnections: number
  connectionTimeoutMillis: number
  statementTimeoutMillis: number
  onError: (error: Error) => void
}

/** int8 parsed as PGlite parses it; every other type as pg does by default. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? parseInt8 : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser']
}

/**
 * A PostgreSQL server through a bounded `pg` pool, with a dedicated connection
 * for LISTEN, and optionally read replicas, each with a pool of its own.
 */
export class PgDatabase implements Database {
  readonly driver = 'pg'
  readonly #pool: pg.Pool
  readonly #replicas: pg.Pool[]
  readonly #listener: PgListener
  /** null without replicas: every read is the primary's. */
  readonly #router: ReadRouter | null

  constructor (options: PgOptions) {
    const pooled = options.listenUrl !== undefined
    const poolOf = (connectionString: string): pg.Pool => {
      const pool = new pg.Pool({
        ...clientConfig(connectionString, options),
        max: options.maxConnections,
        idleTimeoutMillis: 30_000,
        // A startup parameter, which PgBouncer refuses: behind it, the server's setting applies.
        ...(pooled ? {} : { statement_timeout: options.statementTimeoutMillis }),
        // Client-side bound for when the server stops answering altogether (statement_timeout cannot help then).
        query_timeout: options.statementTimeoutMillis + 1_000
      })
      // An idle connection that breaks (server restart, network) must not crash the process.
      pool.on('error', (error) => options.onError(toStoreError(error) as Error))
      return pool
    }
    this.#pool = poolOf(options.databaseUrl)
    this.#replicas = options.replicaUrls.map(poolOf)
    this.#router = this.#replicas.length === 0
      ? null
      : new ReadRouter(
        { query: async (sql, params) => await this.#primaryQuery(sql, params) },
        this.#replicas.map((pool) => ({ query: async (sql, params) => await withClient(pool, async (client) => await queryOn(client, sql, params)) })),
        options.onError)
    const changed = (): void => { this.#router?.changed() }
    this.#listener = new PgListener(clientConfig(options.listenUrl ?? options.databaseUrl, options), options.onError, changed)
  }

  async query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return await this.#written(async () => await this.#primaryQuery<R>(sql, params))
  }

  async read<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.#router === null ? await this.#primaryQuery<R>(sql, params) : await this.#router.read<R>(sql, params)
  }

  /** Where reads went (null without replicas). */
  readStats (): ReadStats | null {
    return this.#router?.stats() ?? null
  }

  async exec (sql: string): Promise<void> {
    await this.#written(async () => { await withClient(this.#pool, async (client) => { await execOn(client, sql) }) })
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return await this.#written(async () => await this.#transaction(fn))
  }

  async #transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return await withClient(this.#pool, async (client, discard) => {
      await execOn(client, 'BEGIN')
      let result: T
      try {
        result = await fn({
          query: async (sql, params) => await queryOn(client, sql, params),
          exec: async (sql) => { await execOn(client, sql) }
        })
      } catch (error) {
        // fn's own error goes through as it is. A broken connection is closed, not rolled back:
        // the server aborts the transaction when it goes.
        if (!(error instanceof StoreUnavailableError)) await client.query('ROLLBACK').catch(discard)
        throw error
      }
      await execOn(client, 'COMMIT')
      return result
    })
  }

  // Not #written: COPY loads the decision log, which no lookup reads, so it need not fence replica reads.
  async copyFrom (sql: string, data: string): Promise<void> {
    await withClient(this.#pool, async (client) => {
      await guard(async () => {
        const stream = client.query(copyFromStdin(sql))
        await new Promise<void>((resolve, reject) => {
          stream.once('finish', resolve)
          stream.once('error', reject)
          stream.end(data)
        })
      })
    })
  }

  async listen (channel: string, onPayload: (payload: string) => void, options: ListenOptions = {}): Promise<() => Promise<void>> {
    assertChannel(channel)
    return await this.#listener.subscribe(channel, onPayload, options)
  }

  async close (): Promise<void> {
    await this.#listener.close()
    for (const pool of [this.#pool, ...this.#replicas]) if (!pool.ended) await pool.end()
  }

  async #primaryQuery<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return await withClient(this.#pool, async (client) => await queryOn<R>(client, sql, params))
  }

  /** Runs a statement that may write: once it is over (committed, failed or lost), reads need a new fence. */
  async #written<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } finally {
      this.#router?.changed()
    }
  }
}

function clientConfig (connectionString: string, options: PgOptions): pg.ClientConfig {
  return { connectionString, connectionTimeoutMillis: options.connectionTimeoutMillis, application_name: 'keygate', keepAlive: true, types }
}

/**
 * Checks out a connection for fn. A connection that failed for infrastructure
 * reasons (lost, timed out mid-query) is discarded; one that merely reported
 * an SQL error goes back to the pool.
 */
async function withClient<T> (pool: pg.Pool, fn: (client: pg.PoolClient, discard: (error: Error) => void) => Promise<T>): Promise<T> {
  const client = await guard(async () => await pool.connect())
  let fault: Error | undefined
  const discard = (error: Error): void => { fault ??= error }
  // A checked-out client emits 'error' when its connection drops; without a listener that would crash the process.
  client.on('error', discard)
  try {
    return await fn(client, discard)
  } catch (error) {
    if (error instanceof StoreUnavailableError) discard(error)
    throw error
  } finally {
    client.off('error', discard)
    client.release(fault)
  }
}

async function queryOn<R> (client: pg.ClientBase, sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
  // Without params pg would use the simple protocol, which runs several statements: keep query() to one, as PGlite does.
  const config = { text: sql, values: params, queryMode: 'extended' } as pg.QueryConfig
  const { rows } = await guard(async () => await client.query(config))
  return { rows: rows as R[] }
}

/** The simple protocol: a script of statements, no parameters. */
async function execOn (client: pg.ClientBase, sql: string): Promise<void> {
  await guard(async () => await client.query(sql))
}

const RECONNECT_MIN_MS = 100
const RECONNECT_MAX_MS = 5_000

/**
 * One connection outside the pool that LISTENs on every subscribed channel.
 * When it drops, it reconnects with backoff and LISTENs again; notifications
 * sent while it was down are lost: every subscriber's onLost is called when it
 * goes (caches stop trusting what they hold) and onReconnect once it listens
 * again (they drop everything and trust the notifications again).
 */
class PgListener {
  readonly #config: pg.ClientConfig
  readonly #onError: (error: Error) => void
  /** Called on every notification (before its subscribers), and when the connection is lost or back: changes were heard, or may be missed. */
  readonly #onActivity: () => void
  readonly #subscribers = new Map<string, Set<(payload: string) => void>>()
  readonly #watchers = new Set<ListenOptions>()
  #client: Promise<pg.Client> | null = null
  /** A connection has listened before: the next one is a reconnection. */
  #connectedBefore = false
  #reconnectTimer: NodeJS.Timeout | undefined
  #backoffMs = RECONNECT_MIN_MS
  #closed = false

  constructor (config: pg.ClientConfig, onError: (error: Error) => void, onActivity: () => void) {
    this.#config = config
    this.#onError = onError
    this.#onActivity = onActivity
  }

  async subscribe (channel: string, onPayload: (payload: string) => void, { onReconnect, onLost }: ListenOptions): Promise<() => Promise<void>> {
    if (this.#closed) throw new StoreUnavailableError('store unavailable: database is closed')
    const callbacks = this.#subscribers.get(channel) ?? new Set()
    this.#subscribers.set(channel, callbacks)
    callbacks.add(onPayload)
    try {
      const client = await this.#connection()
      // Idempotent: the connection may already LISTEN on it (it LISTENs on every known channel when it connects).
      await guard(async () => await client.query(`LISTEN ${client.escapeIdentifier(channel)}`))
    } catch (error) {
      await this.#unsubscribe(channel, onPayload)
      throw error
    }
    // An object per subscription, so that the same callbacks may be passed twice.
    const watcher: ListenOptions = { onReconnect, onLost }
    this.#watchers.add(watcher)
    return async () => {
      this.#watchers.delete(watcher)
      await this.#unsubscribe(channel, onPayload)
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#reconnectTimer)
    const client = this.#client
    this.#client = null
    if (client !== null) await client.then(async (c) => { await c.end() }, () => {})
  }

  async #unsubscribe (channel: string, onPayload: (payload: string) => void): Promise<void> {
    const callbacks = this.#subscribers.get(channel)
    if (callbacks === undefined || !callbacks.delete(onPayload) || callbacks.size > 0) return
    this.#subscribers.delete(channel)
    const client = await this.#client?.catch(() => null)
    // A lost connection has stopped listening anyway.
    await client?.query(`UNLISTEN ${client.escapeIdentifier(channel)}`).catch(() => {})
  }

  #connection (): Promise<pg.Client> {
    this.#client ??= this.#connect()
    return this.#client
  }

  async #connect (): Promise<pg.Client> {
    const client = new pg.Client(this.#config)
    client.on('notification', ({ channel, payload }) => {
      this.#onActivity()
      for (const onPayload of this.#subscribers.get(channel) ?? []) deliver(onPayload, payload ?? '', this.#onError)
    })
    let reported = false
    client.on('error', (error) => {
      // pg may emit twice for one loss (the server's farewell, then the socket closing): report it once.
      if (!reported) this.#onError(toStoreError(error) as Error)
      reported = true
      this.#lost(client)
    })
    client.on('end', () => { this.#lost(client) })
    try {
      await guard(async () => await client.connect())
      for (const channel of this.#subscribers.keys()) {
        await guard(async () => await client.query(`LISTEN ${client.escapeIdentifier(channel)}`))
      }
    } catch (error) {
      this.#client = null
      await client.end().catch(() => {})
      this.#scheduleReconnect()
      throw error
    }
    this.#backoffMs = RECONNECT_MIN_MS
    if (this.#connectedBefore) {
      this.#onActivity()
      // After the connection is handed out, so that a callback that queries finds it.
      queueMicrotask(() => {
        for (const { onReconnect } of this.#watchers) if (onReconnect !== undefined) deliver(onReconnect, '', this.#onError)
      })
    }
    this.#connectedBefore = true
    return client
  }

  #lost (client: pg.Client): void {
    void this.#client?.then((current) => {
      if (current !== client || this.#closed) return
      this.#onActivity()
      this.#client = null
      for (const { onLost } of this.#watchers) if (onLost !== undefined) deliver(onLost, '', this.#onError)
      this.#scheduleReconnect()
    }, () => {})
  }

  #scheduleReconnect (): void {
    if (this.#closed || this.#subscribers.size === 0 || this.#reconnectTimer !== undefined) return
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined
      if (this.#closed || this.#client !== null || this.#subscribers.size === 0) return
      // On failure #connect schedules the next attempt.
      this.#connection().catch(this.#onError)
    }, this.#backoffMs)
    this.#reconnectTimer.unref()
    this.#backoffMs = Math.min(this.#backoffMs * 2, RECONNECT_MAX_MS)
  }
}
