/** GET /admin/v1/overview over real HTTP: what the console's Overview page shows, for admins only. */
import t from 'tap'
import { forEachDatabase } from '../helpers/databases.js'
import { auditServer } from '../helpers/audit.js'

t.test('the operator overview', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store, { bufferSize: 64, batchSize: 8 })
  const base = await server.app.listen({ host: '127.0.0.1', port: 0 })
  const admin = await server.account({ role: 'admin' })
  const user = await server.account()
  const check = async (headers: Record<string, string>, path = '/api/v1/bot/list', method = 'GET'): Promise<number> =>
    (await fetch(`${base}/v1/forward-auth`, { headers: { ...headers, 'x-forwarded-uri': path, 'x-forwarded-method': method } })).status
  const overview = async (headers: Record<string, string>): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${base}/admin/v1/overview`, { headers })
    return { status: res.status, body: await res.json() }
  }

  t.equal(await check(user.headers), 200)
  t.equal(await check(user.headers, '/admin/v1/user/create', 'POST'), 403)
  for (let i = 0; i < 3; i++) t.equal(await check({ authorization: 'Bearer sk-nosuchkey000000000000000000000000000000000000' }), 401)
  // A revoked key presented again: a security event.
  await fetch(`${base}/api/v1/token/${user.keyId}/delete`, { method: 'POST', headers: { ...user.headers, 'content-type': 'application/json' }, body: '{}' })
  t.equal(await check(user.headers), 401)
  await server.audit.flush()

  const { status, body } = await overview(admin.headers)
  t.equal(status, 200)
  const revision = server.authorizer.policySource.status().revision
  t.match(body, {
    at: Number,
    instance: { version: /^\d+\.\d+\.\d+/, startedAt: String, store: 'ok' },
    policy: { revision, loadedAt: String, reloads: 0, failures: 0, lastFailureAt: null },
    lastHour: { from: String },
    decisionLog: { sinks: ['postgres'], capacity: 64, depth: Number, waiting: 0, dropped: 0, lost: 0 }
  })
  t.ok(revision.length > 0, 'the test policy has a revision')
  const byStatus = (rows: Array<{ status: number; count: number }>): Record<number, number> => Object.fromEntries(rows.map((r) => [r.status, r.count]))
  const instance = byStatus(body.instance.decisions)
  t.equal(instance[401], 4, 'this instance: three unknown keys and the revoked one')
  t.equal(instance[403], 1)
  t.ok(instance[200] >= 2, 'the allowed check and the revocation')
  const lastHour = byStatus(body.lastHour.decisions)
  t.equal(lastHour[401], 4, 'the decision log of the last hour holds every denial')
  t.equal(lastHour[403], 1)
  t.ok(body.lastHour.securityEvents.some((e: { event: string; count: number }) => e.event === 'revoked_key_presented' && e.count === 1), 'the revoked key presented again')
  const events = body.lastHour.securityEvents.map((e: { event: string }) => e.event)
  t.same(events, [...new Set(events)].sort(), 'each event once, whatever the statuses of its requests')
  // In the buffer: the overview's own decision (and its events), not written yet.
  t.ok(body.decisionLog.depth > 0)
  t.equal(body.decisionLog.written + body.decisionLog.depth, body.decisionLog.logged, 'what is accepted is written or in the buffer')

  await t.test('admins only, by the policy', async (t) => {
    const other = await server.account()
    const refused = await overview(other.headers)
    t.equal(refused.status, 403)
    t.equal((await overview({})).status, 401)
  })

  await t.test('without the decision log in PostgreSQL, its parts are null', async (t) => {
    const quiet = await auditServer(t, store, { sinks: [{ type: 'stdout' }] })
    const quietBase = await quiet.app.listen({ host: '127.0.0.1', port: 0 })
    const res = await fetch(`${quietBase}/admin/v1/overview`, { headers: admin.headers })
    const body = await res.json()
    t.equal(res.status, 200)
    t.equal(body.lastHour, null)
    t.match(body.decisionLog, { sinks: ['stdout'] })
  })
}))
