/**
 * Read replicas never undo a change: against a real streaming replica whose
 * replay is paused, what an instance has heard of (or done itself) is never
 * read back from the replica as it was before.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import t, { type Test } from 'tap'
import { createAuthorizer, type Authorizer } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { buildApp } from '../../src/server/app.js'
import { createMetrics } from '../../src/server/metrics.js'
import { Sessions } from '../../src/sessions/index.js'
import type { PgDatabase } from '../../src/store/driver-pg.js'
import { openDatabase, openStore, type Store } from '../../src/store/index.js'
import type { ReadStats } from '../../src/store/replicas.js'
import { testPolicy } from '../helpers/authorizer.js'
import { missing } from '../helpers/requires.js'
import { caughtUp, pauseReplay, replicatedDatabase, resumeReplay } from '../helpers/replication.js'
import { bearer } from '../helpers/server.js'
import { until } from '../helpers/until.js'

interface Instance {
  store: Store
  authorizer: Authorizer
  sessions: Sessions
  app: ReturnType<typeof buildApp>
  /** Payloads this instance's listening connection received, by channel. */
  heard: string[]
  reads(): ReadStats
}

async function instance (t: Test, databaseUrl: string, replicaUrls: string[], secret: Buffer): Promise<Instance> {
  const store = await openStore({ databaseUrl, replicaUrls, onError: () => {} })
  const sessions = new Sessions({ db: store.database, secret })
  await sessions.listen()
  const metrics = createMetrics()
  const authorizer = await createAuthorizer({ store, sessions, policy: await testPolicy(), onDecision: metrics.observeDecision })
  const app = buildApp({ authorizer, metrics, sessions })
  const heard: string[] = []
  const unlisten = await Promise.all(['keygate_changes', 'keygate_sessions'].map(async (channel) =>
    await store.database.listen(channel, (payload) => { heard.push(payload) })))
  t.teardown(async () => {
    for (const stop of unlisten) await stop()
    await app.close()
    await authorizer.close()
    await sessions.close()
    await store.close()
  })
  const reads = (): ReadStats => (store.database as PgDatabase).readStats() ?? { primaryReads: 0, fences: 0, replicas: [] }
  return { store, authorizer, sessions, app, heard, reads }
}

t.test('a paused replica never answers with what this instance has heard or done', async (t) => {
  if (missing(t, 'replica')) return
  const { primaryUrl, replicaUrl } = await replicatedDatabase(t)
  const secret = randomBytes(32)
  // a manages; b decides, reading from the replica.
  const a = await instance(t, primaryUrl, [], secret)
  const b = await instance(t, primaryUrl, [replicaUrl], secret)
  const admin = await createAccount(a.store, { email: 'admin@example.com', role: 'admin' })
  const adminKey = await issueKey(a.store, { userId: admin.id })
  const account = async (email: string, parentId?: string): Promise<{ id: string, token: string, keyId: string }> => {
    const user = await createAccount(a.store, { email, parentId })
    const key = await issueKey(a.store, { userId: user.id })
    return { id: user.id, token: key.token, keyId: key.id }
  }
  const revoked = await account('revoked@example.com')
  const restricted = await account('restricted@example.com')
  const parent = await account('parent@example.com')
  const child = await account('child@example.com', parent.id)
  const elsewhere = await account('elsewhere@example.com')
  const sessionUser = await account('session@example.com', admin.id)
  const session = await b.sessions.mint({ userId: sessionUser.id })
  const ownKey = await account('own@example.com')

  const requests = {
    'a revoked key': bearer(revoked.token),
    'a restricted account': bearer(restricted.token),
    'a child moved away': { ...bearer(parent.token), 'x-runas-user-id': child.id },
    'an ended session': bearer(session.token),
    'a key b revoked itself': bearer(ownKey.token)
  }
  /** b's answer from a cold lookup: every cache of b emptied first. */
  const decide = async (headers: Record<string, string>): Promise<number> => {
    b.authorizer.invalidate('all')
    b.sessions.forgetSession(session.id)
    const res = await b.app.inject({ url: '/v1/forward-auth', headers: { ...headers, 'x-original-uri': '/api/v1/bot/list' } })
    return res.statusCode
  }

  await caughtUp()
  for (const [name, headers] of Object.entries(requests)) t.equal(await decide(headers), 200, `before: ${name} is allowed`)
  const before = b.reads()
  t.ok(before.replicas[0]!.reads >= Object.keys(requests).length, 'the replica answered those lookups')

  await pauseReplay(t)
  const heardBefore = b.heard.length
  const api = async (url: string, payload: unknown): Promise<void> => {
    const res = await a.app.inject({ method: 'POST', url, headers: bearer(adminKey.token), payload: payload as object })
    t.equal(res.statusCode, 200, `a: POST ${url}`)
  }
  // Through the API of a, which b hears by NOTIFY.
  await api(`/admin/v1/user/${revoked.id}/token/${revoked.keyId}/delete`, {})
  await api(`/admin/v1/user/${restricted.id}/update`, { restrictions: ['suspended'] })
  await api(`/api/v1/partner/user/${sessionUser.id}/session/${session.id}/delete`, {})
  // No API re-parents an account: by hand, as an operator would (the trigger announces it).
  await a.store.database.query('UPDATE keygate_users SET parent_id = $2 WHERE id = $1', [child.id, elsewhere.id])
  await until(() => b.heard.length >= heardBefore + 4)

  const expected = { 'a revoked key': 401, 'a restricted account': 403, 'a child moved away': 403, 'an ended session': 401, 'a key b revoked itself': 401 }
  const replicaReads = b.reads().replicas[0]!.reads
  const paused = async (names: Array<keyof typeof requests>, when: string): Promise<void> => {
    for (let round = 0; round < 3; round++) {
      for (const name of names) t.equal(await decide(requests[name]), expected[name], `${when}, round ${round + 1}: ${name}`)
    }
  }
  const heardOf = ['a revoked key', 'a restricted account', 'a child moved away', 'an ended session'] as const
  await paused([...heardOf], 'heard of by NOTIFY')

  // Through b's own API, without waiting to hear of it.
  const own = await b.app.inject({ method: 'POST', url: `/admin/v1/user/${ownKey.id}/token/${ownKey.keyId}/delete`, headers: bearer(adminKey.token) })
  t.equal(own.statusCode, 200, 'b: its own revocation')
  await paused(['a key b revoked itself'], 'done by b')

  // The replica still has every one of them as it was.
  const direct = new pg.Client({ connectionString: replicaUrl })
  await direct.connect()
  const { rows: [stale] } = await direct.query('SELECT count(*)::int AS n FROM keygate_keys WHERE id = ANY($1) AND revoked_at IS NULL', [[revoked.keyId, ownKey.keyId]])
  const { rows: [notMoved] } = await direct.query('SELECT parent_id FROM keygate_users WHERE id = $1', [child.id])
  await direct.end()
  t.equal(stale.n, 2, 'the paused replica still shows both keys valid')
  t.equal(notMoved.parent_id, parent.id, 'and the child under its old parent')
  t.equal(b.reads().replicas[0]!.reads, replicaReads, 'the replica, behind, answered none of them')
  t.ok(b.reads().primaryReads > before.primaryReads, 'the primary did')

  await resumeReplay()
  await caughtUp()
  for (const [name, headers] of Object.entries(requests)) {
    t.equal(await decide(headers), expected[name as keyof typeof expected], `resumed: ${name}`)
  }
  t.ok(b.reads().replicas[0]!.reads > replicaReads, 'replay resumed: the replica answers again')
})

t.test('a database reads its own writes back, with no notification heard', async (t) => {
  if (missing(t, 'replica')) return
  const { primaryUrl, replicaUrl } = await replicatedDatabase(t)
  // No LISTEN at all: only the write itself can raise the bar.
  const db = await openDatabase({ databaseUrl: primaryUrl, replicaUrls: [replicaUrl] })
  t.teardown(async () => { await db.close() })
  await db.exec('CREATE TABLE t (v int); INSERT INTO t VALUES (1)')
  await caughtUp()
  const reads = (): ReadStats => (db as PgDatabase).readStats() as ReadStats
  t.same((await db.read('SELECT v FROM t')).rows, [{ v: 1 }])
  t.equal(reads().replicas[0]!.reads, 1, 'from the replica')
  await pauseReplay(t)
  await db.query('UPDATE t SET v = 2')
  for (let i = 0; i < 3; i++) t.same((await db.read('SELECT v FROM t')).rows, [{ v: 2 }], 'its own write, every time')
  t.equal(reads().replicas[0]!.reads, 1, 'from the primary: the replica is behind it')
  await resumeReplay()
  await caughtUp()
  t.same((await db.read('SELECT v FROM t')).rows, [{ v: 2 }])
  t.equal(reads().replicas[0]!.reads, 2, 'the replica again once it has replayed the write')
  t.equal(reads().fences, 2, 'one fence per write, not per read')
})

t.test('without replicas, reads are the primary\'s and cost no fence', async (t) => {
  if (missing(t, 'replica')) return
  const { primaryUrl } = await replicatedDatabase(t)
  const store = await openStore({ databaseUrl: primaryUrl })
  t.teardown(async () => { await store.close() })
  t.equal((store.database as PgDatabase).readStats(), null)
  t.same((await store.database.read('SELECT 1 AS one')).rows, [{ one: 1 }])
})
