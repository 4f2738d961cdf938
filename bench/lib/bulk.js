// Bulk loading for the cold-path and memory benchmarks: accounts with
// generate_series, and real secret keys (generated and hashed exactly as
// Keygate does) streamed through COPY ... FROM STDIN by psql — not one INSERT
// per row from Node. Store triggers (change notifications) are skipped for the
// load by session_replication_role = replica; ANALYZE afterwards.
import { spawn } from 'node:child_process'
import pg from 'pg'
import { generateSecretKey, openStore } from '../../dist/index.js'

export const USER_ID = (i) => `usr_${String(i).padStart(20, '0')}`
const KEY_ID = (i) => `key_${String(i).padStart(20, '0')}`

/**
 * `users` accounts (the first tenth top-level, each with nine children) and
 * `keys` full-access keys, key i owned by account ((i - 1) mod users) + 1: the
 * first `users` keys all have distinct owners. Returns, by key number, the
 * secrets of the keys `keep(i)` selects, with their owners and the owners' parents.
 */
export async function bulkLoad (databaseUrl, { users, keys, keep, log = () => {} }) {
  const store = await openStore({ databaseUrl })
  await store.close()
  const parents = Math.ceil(users / 10)
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  let started = performance.now()
  try {
    await client.query('SET session_replication_role = replica')
    await client.query(`
      INSERT INTO keygate_users (id, email, email_canonical, parent_id)
      SELECT 'usr_' || lpad(i::text, 20, '0'),
             'user' || i || '@bench.example',
             'user' || i || '@bench.example', -- lower-case ASCII: its own canonical form
             CASE WHEN i > $2 THEN 'usr_' || lpad((((i - 1) % $2) + 1)::text, 20, '0') END
      FROM generate_series(1, $1::int) AS i`, [users, parents])
  } finally {
    await client.end()
  }
  log(`  ${users} accounts in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  started = performance.now()
  const samples = new Map()
  const psql = spawn('psql', ['-q', '-v', 'ON_ERROR_STOP=1', databaseUrl,
    '-c', 'SET session_replication_role = replica',
    '-c', '\\copy keygate_keys (id, user_id, hash, prefix, name) FROM STDIN WITH (FORMAT text)'], { stdio: ['pipe', 'inherit', 'inherit'] })
  const done = new Promise((resolve, reject) => psql.once('exit', (code) => code === 0 ? resolve() : reject(new Error(`psql COPY exited with ${code}`))))
  const BATCH = 5000
  for (let i = 1; i <= keys; i += BATCH) {
    let chunk = ''
    for (let j = i; j < i + BATCH && j <= keys; j++) {
      const key = generateSecretKey()
      const owner = ((j - 1) % users) + 1
      chunk += `${KEY_ID(j)}\t${USER_ID(owner)}\t\\\\x${key.hash.toString('hex')}\t${key.prefix}\tbulk\n`
      if (keep(j)) samples.set(j, { key: key.key, keyId: KEY_ID(j), userId: USER_ID(owner), parentId: owner > parents ? USER_ID(((owner - 1) % parents) + 1) : null })
    }
    if (!psql.stdin.write(chunk)) await new Promise((resolve) => psql.stdin.once('drain', resolve))
  }
  psql.stdin.end()
  await done
  log(`  ${keys} keys in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  const analyze = new pg.Client({ connectionString: databaseUrl })
  await analyze.connect()
  try {
    await analyze.query('ANALYZE keygate_users')
    await analyze.query('ANALYZE keygate_keys')
  } finally {
    await analyze.end()
  }
  return samples
}
