/**
 * A throwaway database on the streaming pair that scripts/start-replica.sh
 * runs (KEYGATE_TEST_PRIMARY_URL, KEYGATE_TEST_REPLICA_URL), and control of
 * the replica's replay. Check `missing(t, 'replica')` first. And a pair of
 * its own to fail over (failoverPair).
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Test } from 'tap'
import { freePort } from './proxies.js'
import { tempDirOwnedBy } from './temp.js'

export const primaryServerUrl = process.env.KEYGATE_TEST_PRIMARY_URL || undefined
export const replicaServerUrl = process.env.KEYGATE_TEST_REPLICA_URL || undefined

/** A new database on the primary, its URL there and on the replica (once the replica has it); dropped when t ends. */
export async function replicatedDatabase (t: Test): Promise<{ primaryUrl: string, replicaUrl: string }> {
  const name = `kg_${randomBytes(8).toString('hex')}`
  await run(server('primary'), `CREATE DATABASE ${name}`)
  t.teardown(async () => { await run(server('primary'), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) })
  const [primaryUrl, replicaUrl] = [server('primary'), server('replica')].map((url) => {
    const named = new URL(url)
    named.pathname = `/${name}`
    return named.href
  }) as [string, string]
  await caughtUp()
  return { primaryUrl, replicaUrl }
}

/** Stops the replica's replay (it still receives WAL) until `resume` or the end of t. */
export async function pauseReplay (t: Test): Promise<void> {
  t.teardown(resumeReplay)
  await run(server('replica'), 'SELECT pg_wal_replay_pause()')
}

export async function resumeReplay (): Promise<void> {
  await run(server('replica'), 'SELECT pg_wal_replay_resume()')
}

/** Waits until the replica has replayed everything the primary had written when called. */
export async function caughtUp (): Promise<void> {
  const [{ lsn }] = await run(server('primary'), 'SELECT pg_current_wal_insert_lsn()::text AS lsn') as [{ lsn: string }]
  const deadline = Date.now() + 10_000
  for (;;) {
    const [{ reached }] = await run(server('replica'), `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS reached`) as [{ reached: boolean }]
    if (reached) return
    if (Date.now() > deadline) throw new Error(`the replica did not reach ${lsn} within 10 s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function server (which: 'primary' | 'replica'): string {
  const url = which === 'primary' ? primaryServerUrl : replicaServerUrl
  if (url === undefined) throw new Error('KEYGATE_TEST_PRIMARY_URL and KEYGATE_TEST_REPLICA_URL are not set: run scripts/start-replica.sh')
  return url
}

async function run (url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return (await client.query(sql)).rows
  } finally {
    await client.end()
  }
}

export interface FailoverPair {
  primaryPort: number
  standbyPort: number
  /** A database URL on one of the two servers. */
  url(port: number): string
  /** Stops the primary at once, as a crash would (`pg_ctl stop -m immediate`). */
  crashPrimary(): void
  /** Promotes the standby to primary and waits until it accepts writes (`pg_ctl promote -w`). */
  promoteStandby(): void
}

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

/**
 * A primary and a `pg_basebackup -R` standby of their own (scripts/start-replica.sh
 * in a temporary folder, on two free ports), to be failed over and thrown away.
 * Both are stopped when t ends. Needs root (the servers run as postgres).
 */
export async function failoverPair (t: Test): Promise<FailoverPair> {
  const root = tempDirOwnedBy(t, 'failover', 'postgres')
  const primaryPort = await freePortPair()
  const script = fileURLToPath(new URL('../../scripts/start-replica.sh', import.meta.url))
  const ctl = (dir: string, ...args: string[]): void => {
    execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', join(root, dir), ...args], { stdio: 'ignore' })
  }
  t.teardown(() => {
    for (const dir of ['replica', 'primary']) { try { ctl(dir, 'stop', '-m', 'immediate') } catch {} }
  })
  execFileSync('bash', [script], { env: { ...process.env, KEYGATE_REPLICATION_DIR: root, KEYGATE_REPLICATION_PORT: String(primaryPort) }, stdio: 'ignore' })
  return {
    primaryPort,
    standbyPort: primaryPort + 1,
    url: (port) => `postgres://postgres@127.0.0.1:${port}/postgres`,
    crashPrimary: () => { ctl('primary', 'stop', '-m', 'immediate') },
    promoteStandby: () => { ctl('replica', 'promote', '-w', '-t', '30') }
  }
}

/** A port p of 127.0.0.1 such that p and p + 1 were both free a moment ago. */
async function freePortPair (): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port < 65535 && await isFree(port + 1)) return port
  }
}

async function isFree (port: number): Promise<boolean> {
  const server = createServer()
  return await new Promise((resolve) => {
    server.once('error', () => { resolve(false) })
    server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
  })
}
