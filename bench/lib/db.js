// Throwaway PostgreSQL databases for benchmarks: created on the server named by
// KEYGATE_BENCH_DATABASE_URL (default: the local server), dropped when done.
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export const SERVER_URL = process.env.KEYGATE_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

async function onServer (sql) {
  const client = new pg.Client({ connectionString: SERVER_URL })
  await client.connect()
  try { await client.query(sql) } finally { await client.end() }
}

/** A new empty database; `drop()` removes it (connections and all). */
export async function throwawayDatabase (label = 'bench') {
  const name = `kg_${label}_${randomBytes(4).toString('hex')}`
  await onServer(`CREATE DATABASE ${name}`)
  const url = new URL(SERVER_URL)
  url.pathname = `/${name}`
  let dropped = false
  const drop = async () => {
    if (dropped) return
    dropped = true
    await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  }
  return { name, url: url.href, drop }
}
