/**
 * A throwaway database on the streaming pair that scripts/start-replica.sh
 * runs (KEYGATE_TEST_PRIMARY_URL, KEYGATE_TEST_REPLICA_URL), and control of
 * the replica's replay. Check `missing(t, 'replica')` first.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'

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
