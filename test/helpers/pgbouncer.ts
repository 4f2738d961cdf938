/**
 * Debian's PgBouncer on a port of its own, with a configuration of its own
 * in a temporary folder, for the tests that run Keygate behind a pooler:
 *
 *   if (missing(t, 'pgbouncer')) return
 *   const bouncer = await startPgbouncer(t, { databases: { '*': 'host=127.0.0.1 port=5432' } })
 *   bouncer.url('kg_0123')   // postgres://postgres@127.0.0.1:<port>/kg_0123, transaction pooling
 *
 * Transaction pooling (the mode in which session state would leak) unless a
 * database entry says otherwise (`pool_mode=session`). PgBouncer refuses to
 * run as root: as root it is started with `-u postgres`. Stopped when t ends.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { freePort, spawnOwned } from './proxies.js'
import { findBinary } from './requires.js'
import { tempDir, tempDirOwnedBy } from './temp.js'

const USER = 'postgres'
const READY_TIMEOUT_MS = 10_000

export interface PgBouncerOptions {
  /** `[databases]` entries: name (or `*`, any database) → connection string, e.g. `host=127.0.0.1 port=5432`. */
  databases: Record<string, string>
  /** Server connections per database and user (default 4); 1 makes every client share one server connection. */
  poolSize?: number
}

export interface PgBouncer {
  port: number
  /** The URL of a database through PgBouncer. */
  url(database: string): string
  /** Rewrites the `[databases]` section and has PgBouncer RELOAD it (new server connections go to the new addresses). */
  repoint(databases: Record<string, string>): Promise<void>
  /** What PgBouncer logged so far, for failure messages. */
  logs(): string
}

export async function startPgbouncer (t: Test, options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = findBinary('pgbouncer')
  if (binary === undefined) throw new Error('pgbouncer is not installed: run scripts/install-tools.sh (as root)')
  const asRoot = process.getuid?.() === 0
  for (let attempt = 1; ; attempt++) {
    // PgBouncer reads its files again on RELOAD, as the user it runs as.
    const dir = asRoot ? tempDirOwnedBy(t, 'pgbouncer', USER) : tempDir(t, 'pgbouncer')
    const port = await freePort()
    const configFile = join(dir, 'pgbouncer.ini')
    const configure = (databases: Record<string, string>): void => {
      writeFileSync(configFile, configText(dir, port, databases, options.poolSize ?? 4), { mode: 0o644 })
    }
    writeFileSync(join(dir, 'users.txt'), `"${USER}" ""\n`, { mode: 0o644 })
    configure(options.databases)
    // SIGINT: a safe shutdown that does not wait for clients to leave.
    const { output, exited } = spawnOwned(t, binary, [...(asRoot ? ['-u', USER] : []), configFile], { cwd: dir }, 'SIGINT')
    const url = (database: string): string => `postgres://${USER}@127.0.0.1:${port}/${database}`
    const admin = async (command: string): Promise<void> => {
      const client = new pg.Client({ connectionString: url('pgbouncer'), connectionTimeoutMillis: 2_000 })
      await client.connect()
      try {
        // The admin console speaks the simple protocol only: a query without parameters.
        await client.query(command)
      } finally {
        await client.end()
      }
    }
    const problem = await untilAnswers(async () => { await admin('SHOW VERSION') }, exited)
    const logs = output
    if (problem === undefined) {
      return {
        port,
        url,
        logs,
        repoint: async (databases) => {
          configure(databases)
          await admin('RELOAD')
        }
      }
    }
    if (attempt < 3 && /address already in use/i.test(output())) continue
    throw new Error(`pgbouncer did not start: ${problem}\n${output()}`)
  }
}

function configText (dir: string, port: number, databases: Record<string, string>, poolSize: number): string {
  return [
    '[databases]',
    ...Object.entries(databases).map(([name, connection]) => `${name} = ${connection}`),
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    // No Unix socket: two PgBouncers on one machine would fight over /tmp/.s.PGSQL.6432.
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    `admin_users = ${USER}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 1000',
    // A server that went away (a failover) is tried again soon, not after the default 15 s.
    'server_login_retry = 0.1',
    // A client waits at most this for a server connection, then gets an error (the default is 120 s).
    'query_wait_timeout = 5',
    ''
  ].join('\n')
}

async function untilAnswers (ask: () => Promise<void>, exited: Promise<string>): Promise<string | undefined> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let exit: string | undefined
  void exited.then((reason) => { exit = reason })
  let last = ''
  while (exit === undefined) {
    if (Date.now() > deadline) return `no answer within ${READY_TIMEOUT_MS} ms (${last})`
    try {
      await ask()
      return undefined
    } catch (error) {
      last = error instanceof Error ? error.message : String(error)
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50))])
    }
  }
  return exit
}
