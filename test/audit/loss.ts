import t from 'tap'
import { Audit } from '../../src/audit/index.js'
import { createAuthorizer, type AuthorizationResult } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, testPolicy } from '../helpers/server.js'

const BURST = 3_000

t.test('a burst through a small buffer: no denial or impersonation is lost, and every other decision is accounted for',
  (t) => forEachDatabase(t, async (t, db, store) => {
    const errors: unknown[] = []
    const audit = await Audit.open({
      store,
      config: { bufferSize: 64, batchSize: 16, flushIntervalMs: 50, sampleEvery: 4 },
      onError: (error) => { errors.push(error) },
      cleanupIntervalMs: 0
    })
    const authorizer = await createAuthorizer({ store, policy: await testPolicy(), onDecision: audit.record })
    t.teardown(async () => { await authorizer.close(); await audit.close() })

    const parent = await createAccount(store, { email: 'parent@example.com' })
    const child = await createAccount(store, { email: 'child@example.com', parentId: parent.id })
    const key = await issueKey(store, { userId: parent.id }, new Date())
    const scoped = await issueKey(store, { userId: parent.id, scopes: ['bot:read'] }, new Date())

    // A mix: allowed reads (droppable), impersonated reads, 403s, 401s, allowed writes.
    const requests = Array.from({ length: BURST }, (_, i) => {
      switch (i % 5) {
        case 0: return { method: 'GET', path: '/api/v1/bot/list', headers: bearer(key.token), scheme: 'https' as const }
        case 1: return { method: 'GET', path: '/api/v1/bot/list', headers: { ...bearer(key.token), 'x-runas-user-id': child.id }, scheme: 'https' as const }
        case 2: return { method: 'POST', path: '/api/v1/dataset/create', headers: bearer(scoped.token), scheme: 'https' as const }
        case 3: return { method: 'GET', path: '/api/v1/bot/list', headers: {}, scheme: 'https' as const }
        default: return { method: 'GET', path: '/api/v1/bot/fetch', headers: bearer(key.token), scheme: 'https' as const }
      }
    })
    const results: AuthorizationResult[] = await Promise.all(requests.map(async (r) => await authorizer.authorize(r)))
    await audit.flush()

    const mustKeep = results.filter((r) => !r.allow || r.actor !== null)
    t.equal(mustKeep.length, BURST * 3 / 5, 'impersonations, 403s and 401s')
    t.ok(mustKeep.some((r) => r.status === 401) && mustKeep.some((r) => r.status === 403) && mustKeep.some((r) => r.actor !== null))

    const { rows } = await db.query<{ decision_id: string }>("SELECT decision_id FROM keygate_decisions WHERE kind = 'decision'")
    const logged = new Set(rows.map((r) => r.decision_id))
    const missing = mustKeep.filter((r) => !logged.has(r.decisionId))
    t.same(missing, [], 'every denial and impersonation is in the log')

    const events = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM keygate_decisions WHERE kind = 'security'")).rows[0]?.n ?? 0
    const stats = audit.log?.stats
    t.ok(stats !== undefined)
    if (stats === undefined) return
    t.equal(stats.logged + stats.sampled + stats.dropped, BURST + events, 'logged + sampled + dropped = every decision (and event)')
    t.equal(stats.written, stats.logged, 'everything accepted was written')
    t.equal(rows.length + events, stats.written, 'the table holds what was written')
    t.ok(stats.sampled + stats.dropped > 0, 'the small buffer did shed allowed reads')
    t.equal(stats.lost, 0)
    t.equal(audit.log?.depth, 0)
    t.same(errors, [])

    // The metrics say the same.
    const value = async (name: string): Promise<number> => (await audit.metrics[name as 'logged'].get()).values[0]?.value ?? 0
    t.equal(await value('logged'), stats.logged)
    t.equal(await value('sampled'), stats.sampled)
    t.equal(await value('dropped'), stats.dropped)
  }))
