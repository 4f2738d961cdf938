import t from 'tap'
import { Audit } from '../../src/audit/index.js'
import { createAuthorizer, type AuthorizationResult } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer, testPolicy } from '../helpers/server.js'

/** Seven kinds of request, 400 of each. */
const BURST = 2_800

t.test('a burst through a small buffer: no denial, impersonation, allowed write or security event is lost, and every other decision is accounted for',
  (t) => forEachDatabase(t, async (t, db, store) => {
    const errors: unknown[] = []
    const audit = await Audit.open({
      store,
      config: { bufferSize: 64, batchSize: 16, flushIntervalMs: 50, sampleEvery: 4 },
      onError: (error) => { errors.push(error) },
      cleanupIntervalMs: 0
    })
    // The burst keeps the event loop busy for seconds; the store's deadline is not what this test is about.
    const authorizer = await createAuthorizer({ store, policy: await testPolicy(), onDecision: audit.record, decisionTimeoutMs: 600_000 })
    t.teardown(async () => { await authorizer.close(); await audit.close() })

    const parent = await createAccount(store, { email: 'parent@example.com' })
    const child = await createAccount(store, { email: 'child@example.com', parentId: parent.id })
    const key = await issueKey(store, { userId: parent.id }, new Date())
    const scoped = await issueKey(store, { userId: parent.id, scopes: ['bot:read'] }, new Date())
    const revoked = await issueKey(store, { userId: parent.id }, new Date())
    await store.revokeKey(revoked.id)
    const expired = await issueKey(store, { userId: parent.id, expiresInSeconds: 1 }, new Date(Date.now() - 60_000))

    // A mix: allowed reads (the only droppable kind), impersonated reads, 403s, 401s, allowed writes,
    // and a revoked and an expired key presented again (a 401 and a security event each).
    const https = 'https' as const
    const requests = Array.from({ length: BURST }, (_, i) => {
      switch (i % 7) {
        case 0: return { method: 'GET', path: '/api/v1/bot/list', headers: bearer(key.token), scheme: https }
        case 1: return { method: 'GET', path: '/api/v1/bot/list', headers: { ...bearer(key.token), 'x-runas-user-id': child.id }, scheme: https }
        case 2: return { method: 'POST', path: '/api/v1/dataset/create', headers: bearer(scoped.token), scheme: https }
        case 3: return { method: 'GET', path: '/api/v1/bot/list', headers: {}, scheme: https }
        case 4: return { method: 'POST', path: '/api/v1/dataset/create', headers: bearer(key.token), scheme: https }
        case 5: return { method: 'GET', path: '/api/v1/bot/list', headers: bearer(revoked.token), scheme: https }
        default: return { method: 'GET', path: '/api/v1/bot/list', headers: bearer(expired.token), scheme: https }
      }
    })
    const results: AuthorizationResult[] = await Promise.all(requests.map(async (r) => await authorizer.authorize(r)))
    await audit.flush()

    t.notOk(results.some((r) => r.status === 503), 'no decision failed')
    const droppable = (r: AuthorizationResult): boolean => r.allow && r.actor === null && r.action?.class === 'read'
    const mustKeep = results.filter((r) => !droppable(r))
    t.equal(mustKeep.length, BURST * 6 / 7, 'impersonations, 403s, 401s and allowed writes')
    t.equal(mustKeep.filter((r) => r.allow && r.action?.class === 'write').length, BURST / 7, 'allowed writes')
    t.equal(mustKeep.filter((r) => r.status === 401).length, BURST * 3 / 7, '401s')
    t.ok(mustKeep.some((r) => r.status === 403) && mustKeep.some((r) => r.actor !== null))

    const { rows } = await db.query<{ decision_id: string }>("SELECT decision_id FROM keygate_decisions WHERE kind = 'decision'")
    const logged = new Set(rows.map((r) => r.decision_id))
    const missing = mustKeep.filter((r) => !logged.has(r.decisionId))
    t.same(missing, [], 'every denial, impersonation and allowed write is in the log')

    const { rows: byEvent } = await db.query<{ event: string, n: number }>(
      "SELECT event, count(*)::int AS n FROM keygate_decisions WHERE kind = 'security' GROUP BY event")
    const logEvents = Object.fromEntries(byEvent.map((r) => [r.event, r.n]))
    t.equal(logEvents.revoked_key_presented, BURST / 7, 'every presentation of the revoked key is a logged event')
    t.equal(logEvents.expired_key_presented, BURST / 7, 'every presentation of the expired key is a logged event')
    const raised: Record<string, number> = Object.fromEntries((await audit.metrics.securityEvents.get()).values.map((v) => [v.labels.event, v.value]))
    t.same(logEvents, raised, 'every security event raised is in the log')

    const events = Object.values(raised).reduce((sum, n) => sum + n, 0)
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
