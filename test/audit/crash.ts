/**
 * The spool: `keygate serve` on PostgreSQL is killed with SIGKILL while it
 * answers a stream of allowed writes and denials; once it starts again, every
 * one that was answered is in the decision log.
 */
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import t from 'tap'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { openStore } from '../../src/store/index.js'
import { createTestDatabase } from '../helpers/databases.js'
import { checkWrite, serve } from '../helpers/keygate-bin.js'
import { missing } from '../helpers/requires.js'
import { testPolicy } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'
import { until } from '../helpers/until.js'

t.test('SIGKILL under load: every answered write and denial is in the log once the server is back', async (t) => {
  if (missing(t, 'postgres')) return
  await testPolicy() // the bundle exists
  const databaseUrl = await createTestDatabase(t)
  const store = await openStore({ databaseUrl })
  const user = await createAccount(store, { email: 'crash@example.com' })
  const { token } = await issueKey(store, { userId: user.id })
  const spool = tempDir(t, 'spool')
  t.teardown(async () => { await store.close() })
  const env = {
    KEYGATE_DATABASE_URL: databaseUrl,
    KEYGATE_SIGNING_SECRET: randomBytes(32).toString('base64'),
    KEYGATE_DECISION_LOG_SPOOL: spool,
    // Long enough that the buffer holds entries not yet in the store whenever the kill comes.
    KEYGATE_DECISION_LOG_FLUSH_MS: '5000',
    KEYGATE_DECISION_LOG_BATCH: '5000'
  }

  const first = await serve(t, env)
  const { url } = first
  const writes = new Set<string>()
  let denials = 0
  let stopped = false
  let killed = false
  const loop = async (n: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const bad = (i + n) % 3 === 0
      try {
        const id = await checkWrite(url, bad ? null : token)
        if (id === null) denials++
        else writes.add(id)
      } catch (error) {
        if (!killed) throw error
        return
      }
    }
  }
  const loops = Array.from({ length: 16 }, async (_, n) => { await loop(n) })
  await until(() => writes.size >= 600 && denials >= 300, 240_000)
  killed = true
  first.child.kill('SIGKILL')
  await first.exit
  stopped = true
  await Promise.all(loops)
  const leftBehind = await readdir(spool)

  const second = await serve(t, env)
  // The replay runs in the background: poll the log until it holds every answered write (or give up after a while).
  const read = async (): Promise<{ missing: string[]; denied: number; rows: number; distinct: number }> => {
    const { rows } = await store.database.query<{ decision_id: string; status: number }>(
      "SELECT decision_id, status FROM keygate_decision_log WHERE kind = 'decision'")
    const logged = new Set(rows.filter((r) => r.status === 200).map((r) => r.decision_id))
    return {
      missing: [...writes].filter((id) => !logged.has(id)),
      denied: rows.filter((r) => r.status === 401).length,
      rows: rows.length,
      distinct: new Set(rows.map((r) => r.decision_id)).size
    }
  }
  let log = await read()
  for (const deadline = Date.now() + 60_000; (log.missing.length > 0 || log.denied < denials) && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    log = await read()
  }
  t.same(log.missing, [], `all ${writes.size} answered writes are in the log`)
  t.ok(log.denied >= denials, `all ${denials} answered denials are in the log (${log.denied})`)
  t.equal(log.distinct, log.rows, 'none twice (the replay overlaps what was written)')
  t.equal(leftBehind.length, 1, 'the killed process left its spool, in a folder for its database')
  await until(() => second.output().includes('the spool of a process that stopped is in the decision log'), 60_000)
  second.child.kill('SIGTERM')
  await second.exit
})
