/**
 * replayDecisions on hand-made log entries, with the compiled default policy
 * as the candidate: what counts as a change, what is skipped, how pages and
 * the limit are read, and how changes are counted.
 */
import t from 'tap'
import type { DecisionEntry, LogEntry } from '../../src/audit/entry.js'
import { replayDecisions, replayLimit } from '../../src/audit/replay.js'
import type { AuditFilter } from '../../src/audit/store.js'
import { catalogueRouteOf, catalogueRoutes } from '../../src/policy/catalogue.js'
import type { PolicyInput } from '../../src/policy/input.js'
import { testPolicy } from '../helpers/server.js'

const NOW = 1767225600000
let ids = 0

function input (method: string, path: string): PolicyInput {
  return {
    version: 2,
    now: NOW,
    request: { method, path, scheme: 'https' },
    credential: { type: 'secret_key', found: true, id: 'key_1', prefix: 'sk-abc', expiresAt: null, revoked: false, scopes: null, actorId: null },
    principal: { id: 'usr_1', parentId: null, role: 'user', status: 'active', restrictions: [] },
    actor: null,
    runAs: []
  }
}

/** A decision as the log holds it: what was recorded, on this input. */
function entry (recorded: { allow: boolean; status: number; code?: string; reasons?: string[] }, request: PolicyInput | null): DecisionEntry {
  const id = `d${++ids}`
  return {
    kind: 'decision',
    id,
    decision_id: id,
    timestamp: new Date(NOW).toISOString(),
    status: recorded.status,
    code: recorded.code ?? (recorded.allow ? 'OK' : 'NOT_AUTHORIZED'),
    credential_type: 'secret_key',
    key_id: 'key_1',
    key_prefix: 'sk-abc',
    subject: 'usr_1',
    actor: null,
    client_address: null,
    reason_codes: recorded.reasons ?? [],
    path: 'keygate/authz/decision',
    input: request,
    result: {
      allow: recorded.allow,
      status: recorded.status,
      code: recorded.code ?? (recorded.allow ? 'OK' : 'NOT_AUTHORIZED'),
      reasons: (recorded.reasons ?? []).map((code) => ({ code, msg: code })),
      subject: 'usr_1',
      actor: null,
      action: null
    },
    bundles: { keygate: { revision: 'old' } },
    metrics: { timer_keygate_authorize_ns: 1 },
    impersonated: false,
    request: { method: request?.request.method ?? null, path: request?.request.path ?? null, scheme: 'https' }
  }
}

/** The audit store's list(), newest first, in pages; records the filters it was asked with. */
function log (entries: LogEntry[]): { list: (filter?: AuditFilter) => Promise<{ items: LogEntry[]; nextCursor: string | null }>; asked: AuditFilter[] } {
  const asked: AuditFilter[] = []
  return {
    asked,
    async list (filter = {}) {
      asked.push(filter)
      const start = filter.cursor == null ? 0 : Number(filter.cursor)
      const take = filter.take ?? 20
      const items = entries.slice(start, start + take)
      return { items, nextCursor: start + take < entries.length ? String(start + take) : null }
    }
  }
}

t.test('a deny the candidate allows, a reason it drops, and what is left alone', async (t) => {
  const candidate = await testPolicy()
  const denied = entry({ allow: false, status: 403, reasons: ['bot_delete_forbidden'] }, input('POST', '/api/v1/bot/b1/delete'))
  const same = entry({ allow: true, status: 200 }, input('GET', '/api/v1/bot/list'))
  const throttled = entry({ allow: false, status: 429, code: 'RATE_LIMITED', reasons: ['authentication_throttled'] }, { ...input('GET', '/api/v1/bot/list'), credential: { type: 'secret_key', found: false } })
  const fault = entry({ allow: false, status: 503, code: 'SERVICE_UNAVAILABLE', reasons: ['store_unavailable'] }, null)
  const unknown = entry({ allow: true, status: 200 }, input('POST', '/api/v1/widget/w1/frobnicate'))
  const report = await replayDecisions(log([denied, same, throttled, fault, unknown]), candidate)
  t.match(report, { read: 5, replayed: 3, faults: 0, limit: 1000, since: null })
  t.same(report.changes.map((c) => c.decisionId), [denied.decision_id], 'only the decision the candidate decides otherwise')
  t.match(report.changes[0], {
    route: 'POST /api/v1/bot/{botId}/delete',
    revision: 'old',
    recorded: { allow: false, status: 403, reasons: ['bot_delete_forbidden'] },
    replayed: { allow: true, status: 200, code: 'OK', reasons: [] },
    changed: ['allow', 'status', 'code', 'reasons']
  })
  t.same(report.byRoute, [{ route: 'POST /api/v1/bot/{botId}/delete', changed: 1, toDeny: 0, toAllow: 1 }])
  t.same(report.byReason, [{ reason: 'bot_delete_forbidden', added: 0, removed: 1 }])
})

t.test('a path outside the catalogue is grouped as itself', async (t) => {
  const recorded = entry({ allow: false, status: 403, reasons: ['made_up'] }, input('POST', '/api/v1/widget/w1/frobnicate'))
  const report = await replayDecisions(log([recorded]), await testPolicy())
  t.equal(report.changes[0]?.route, 'POST /api/v1/widget/w1/frobnicate')
})

t.test('pages are read until the limit; since is passed on', async (t) => {
  const entries = Array.from({ length: 250 }, () => entry({ allow: true, status: 200 }, input('GET', '/api/v1/bot/list')))
  const all = log(entries)
  t.match(await replayDecisions(all, await testPolicy()), { read: 250, replayed: 250, changes: [] })
  t.same(all.asked.map((f) => f.take), [100, 100, 100])
  const some = log(entries)
  const since = new Date(NOW)
  t.match(await replayDecisions(some, await testPolicy(), { limit: 150, since }), { read: 150, since: since.toISOString() })
  t.same(some.asked.map((f) => [f.take, f.kind, f.from]), [[100, 'decision', since], [50, 'decision', since]])
})

t.test('the limit is a whole number from 1 to 10 000', async (t) => {
  t.equal(replayLimit(undefined), 1000)
  t.equal(replayLimit(10_000), 10_000)
  for (const bad of [0, -1, 1.5, 10_001, Number.NaN]) t.throws(() => replayLimit(bad), { code: 'INVALID_VALUE' }, String(bad))
})

t.test('the catalogue: no two templates match one path; /v1/ is /api/v1/', async (t) => {
  const routes = catalogueRoutes()
  t.equal(routes.length, 335)
  for (const route of routes) {
    const path = route.template.replace('{path}', 'docs/a.md').replace(/\{[A-Za-z]+\}/g, 'x1')
    t.equal(catalogueRouteOf(route.method, path), route, `${route.method} ${route.template}`)
  }
  t.same(catalogueRouteOf('GET', '/api/v1/bot/list'), { method: 'GET', template: '/api/v1/bot/list', resource: 'bot' })
  t.equal(catalogueRouteOf('post', '/v1/bot/b1/delete')?.template, '/api/v1/bot/{botId}/delete')
  t.equal(catalogueRouteOf('GET', '/api/v1/bot/b1/delete'), null, 'the method counts')
  t.equal(catalogueRouteOf('POST', '/admin/v1/user/create'), null)
})
