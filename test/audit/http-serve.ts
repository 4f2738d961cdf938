/**
 * `keygate serve` with KEYGATE_DECISION_LOG=http://…: a real collector gets
 * every answered write and denial once, through a collector outage (5xx, then
 * connection refused, then recovery) and a clean shutdown; after a SIGKILL
 * with the collector down, the next start replays the spool to it.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { openStore } from '../../src/store/index.js'
import { startCollector, tally } from '../helpers/collector.js'
import { createTestDatabase } from '../helpers/databases.js'
import { checkWrite, serve } from '../helpers/keygate-bin.js'
import { missing } from '../helpers/requires.js'
import { testPolicy } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'
import { until } from '../helpers/until.js'
const COLLECTOR_TOKEN = 'collector-secret-0123456789'

t.test('keygate serve posts its decision log to a collector: every write and denial once, through an outage', async (t) => {
  if (missing(t, 'postgres')) return
  await testPolicy() // the bundle exists
  const databaseUrl = await createTestDatabase(t)
  const store = await openStore({ databaseUrl })
  t.teardown(async () => { await store.close() })
  const user = await createAccount(store, { email: 'collector@example.com' })
  const { token } = await issueKey(store, { userId: user.id })
  const collector = await startCollector(t)
  collector.answer = (post) => post.headers.authorization === `Bearer ${COLLECTOR_TOKEN}` ? 204 : 401

  const spool = tempDir(t, 'http-spool')
  const env = {
    KEYGATE_DATABASE_URL: databaseUrl,
    KEYGATE_SIGNING_SECRET: randomBytes(32).toString('base64'),
    KEYGATE_DECISION_LOG: collector.url,
    KEYGATE_DECISION_LOG_HEADERS: `Authorization=Bearer%20${COLLECTOR_TOKEN}`,
    KEYGATE_DECISION_LOG_SPOOL: spool
  }
  const first = await serve(t, env)

  const writes = new Set<string>()
  let denials = 0
  const traffic = async (count: number, url = first.url): Promise<void> => {
    await Promise.all(Array.from({ length: count }, async (_, i) => {
      const bad = i % 3 === 0
      const id = await checkWrite(url, bad ? null : token)
      if (id === null) denials++
      else writes.add(id)
    }))
  }

  await traffic(30)
  await collector.waitFor(1)
  collector.answer = () => 503
  await traffic(30)
  await until(() => collector.posts.some((post) => post.status === 503), 10_000)
  await collector.stop()
  await traffic(30)
  await until(() => first.output().includes('ECONNREFUSED'), 10_000)
  collector.answer = (post) => post.headers.authorization === `Bearer ${COLLECTOR_TOKEN}` ? 204 : 401
  await collector.start()
  await traffic(30)

  first.child.kill('SIGTERM')
  await first.exit
  const decisions = collector.accepted.filter((event) => event.kind === 'decision')
  const delivered = new Set(decisions.filter((event) => event.status === 200).map((event) => event.decision_id as string))
  t.same([...writes].filter((id) => !delivered.has(id)), [], `all ${writes.size} answered writes reached the collector`)
  t.equal(decisions.filter((event) => event.status === 401).length, denials, `all ${denials} denials, once each`)
  t.same(tally(collector.accepted).duplicates, [], 'nothing twice')
  t.ok(collector.accepted.some((event) => event.kind === 'security'), 'security events too')
  t.match(decisions[0], { path: 'keygate/authz/decision', labels: { app: 'keygate' }, requested_by: '127.0.0.1', input: Object, result: { allow: Boolean } })
  t.same(collector.problems, [])
  t.notOk(first.output().includes(COLLECTOR_TOKEN), 'the collector token is never logged')
  const { rows } = await store.database.query<{ n: number }>('SELECT count(*)::int AS n FROM keygate_decision_log')
  t.equal(rows[0]?.n, 0, 'the primary holds none of it')

  // A crash while the collector is down: what was answered is spooled, and the next start replays it to the collector.
  const before = collector.accepted.length
  writes.clear()
  denials = 0
  await collector.stop()
  const second = await serve(t, env)
  await traffic(30, second.url)
  second.child.kill('SIGKILL')
  await second.exit
  collector.answer = (post) => post.headers.authorization === `Bearer ${COLLECTOR_TOKEN}` ? 204 : 401
  await collector.start()
  const third = await serve(t, env)
  await until(() => third.output().includes('the spool of a process that stopped is in the decision log'), 60_000)
  const replayed = collector.accepted.slice(before).filter((event) => event.kind === 'decision')
  const replayedIds = new Set(replayed.map((event) => event.decision_id as string))
  t.same([...writes].filter((id) => !replayedIds.has(id)), [], `all ${writes.size} writes answered before the SIGKILL reached the collector`)
  t.equal(new Set(replayed.filter((event) => event.status === 401).map((event) => event.decision_id)).size, denials, `and all ${denials} denials`)
  third.child.kill('SIGTERM')
  await third.exit
})
