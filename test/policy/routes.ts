/**
 * The endpoint catalogue (policies/routes.tsv, the 335 routes of the
 * API Keygate fronts) through the compiled policy: every route gets a class
 * from the data tables, and the classes match what the path template says.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { PolicyEngine } from '../../src/policy/engine.js'
import type { AccountFacts, CredentialFacts, PolicyDecision } from '../../src/policy/input.js'
import { loadEngine, policyData, ROOT } from './helpers/bundle.js'

const NOW = 1767225600000
const READ_VERBS = new Set(['list', 'fetch', 'search', 'export', 'download', 'subscribe'])
const MANAGE_RESOURCES = new Set(['partner', 'token', 'session'])

const routes = readFileSync(join(ROOT, 'policies/routes.tsv'), 'utf8')
  .trim().split('\n').slice(1)
  .map((line) => {
    const [method, template] = line.split('\t') as [string, string]
    return { method, template }
  })

/** Fills `{path}` with a multi-segment storage path and every other placeholder with `id`. */
function fill (template: string, id = 'abc123'): string {
  return template.replace('{path}', 'docs/guides/intro.md').replace(/\{[A-Za-z]+\}/g, id)
}

/** The class the template itself implies; independent of how the policy finds it. */
function expectedClass (template: string): string {
  const segments = template.replace(/^\/api\/v1\//, '').split('/').filter((s) => s !== '{path}')
  if (MANAGE_RESOURCES.has(segments[0]!)) return 'manage'
  return READ_VERBS.has(segments[segments.length - 1]!) ? 'read' : 'write'
}

const owner: AccountFacts = { id: 'usr_1', parentId: null, role: 'user', status: 'active', restrictions: [] }
const fullKey: CredentialFacts = { type: 'secret_key', found: true, id: 'key_1', expiresAt: null, revoked: false, scopes: null, actorId: null }

function decide (engine: PolicyEngine, method: string, path: string, credential = fullKey, principal = owner): PolicyDecision {
  return engine.evaluate({ version: 2, now: NOW, request: { method, path, scheme: 'https' }, credential, principal, actor: null, runAs: [] })
}

t.test('the catalogue is the 335-route one', async (t) => {
  t.equal(routes.length, 335)
  t.ok(routes.every((r) => r.template.startsWith('/api/v1/')))
})

t.test('every route gets a class from the data tables, the one its template implies', async (t) => {
  const engine = await loadEngine()
  const { verbs, exact } = policyData().routes
  for (const { method, template } of routes) {
    const path = fill(template)
    const d = decide(engine, method, path)
    t.ok(d.allow, `${method} ${template} allowed for a full-access key`)
    t.same(d.action?.class, expectedClass(template), `${method} ${template} class`)
    t.equal(d.action?.resource, template.split('/')[3], `${template} resource`)
    const rest = path.slice('/api/v1/'.length)
    t.ok(d.action !== null && (verbs[d.action.verb] !== undefined || exact[rest] !== undefined), `${template}: verb "${d.action?.verb}" is in the verbs table, or the route in exact`)
    t.same(decide(engine, method, `/v1/${rest}`).action, d.action, `${template}: /v1/ alias decides the same`)
  }
})

t.test('specific classes', async (t) => {
  const engine = await loadEngine()
  const classOf = (method: string, path: string): string | undefined => decide(engine, method, path).action?.class
  const readVerbRoutes = routes.filter((r) => /\/(list|fetch|search|export|download)(\/\{path\})?$/.test(r.template) && !MANAGE_RESOURCES.has(r.template.split('/')[3]!))
  t.ok(readVerbRoutes.length > 100, `${readVerbRoutes.length} list/fetch/search/export/download routes`)
  for (const r of readVerbRoutes) t.equal(classOf(r.method, fill(r.template)), 'read', `${r.method} ${r.template}`)
  for (const r of routes.filter((r) => r.template.endsWith('/delete'))) {
    t.equal(classOf(r.method, fill(r.template)), r.template.startsWith('/api/v1/partner/') || r.template.startsWith('/api/v1/token/') ? 'manage' : 'write', r.template)
  }
  for (const r of routes.filter((r) => r.template.startsWith('/api/v1/partner/'))) t.equal(classOf(r.method, fill(r.template)), 'manage', r.template)
  t.equal(classOf('POST', '/api/v1/bot/b1/memory/search'), 'read', 'POST memory search reads')
  t.equal(classOf('POST', '/api/v1/platform/doc/search'), 'read')
  t.equal(classOf('GET', '/api/v1/space/s1/storage/download/a/b.txt'), 'read')
  t.equal(classOf('POST', '/api/v1/space/s1/storage/upload/a/b.txt'), 'write')
  t.equal(classOf('POST', '/api/v1/graphql'), 'write')
  t.equal(classOf('POST', '/api/v1/openai/chat/completions'), 'write')
  t.equal(classOf('GET', '/api/v1/integration/skillserver/i1/invoke'), 'write', 'a GET can write')
  t.equal(classOf('POST', '/api/v1/token/t1/roll'), 'manage')
  t.equal(classOf('POST', '/api/v1/session/create'), 'manage', 'top-level session is management')
  t.equal(classOf('POST', '/api/v1/bot/b1/session/create'), 'write', 'a bot session is not')
  t.equal(classOf('POST', '/admin/v1/user/create'), 'admin')
})

t.test('an id that spells a write verb makes any read route a write (fail-safe)', async (t) => {
  const engine = await loadEngine()
  for (const r of routes.filter((r) => r.template.includes('{') && expectedClass(r.template) === 'read')) {
    t.equal(decide(engine, r.method, fill(r.template, 'delete')).action?.class, 'write', r.template)
  }
})

t.test('a read-scoped key and a read-only account can call exactly the read routes', async (t) => {
  const engine = await loadEngine()
  const readKey: CredentialFacts = { ...fullKey, scopes: ['read'] }
  const readOnly: AccountFacts = { ...owner, restrictions: ['read-only'] }
  for (const { method, template } of routes) {
    const isRead = expectedClass(template) === 'read'
    t.equal(decide(engine, method, fill(template), readKey).allow, isRead, `read scope: ${method} ${template}`)
    t.equal(decide(engine, method, fill(template), fullKey, readOnly).allow, isRead, `read-only: ${method} ${template}`)
  }
})

t.test('a session token can call no management route', async (t) => {
  const engine = await loadEngine()
  const session: CredentialFacts = { type: 'session', found: true, id: 'ses_1', expiresAt: NOW + 60_000, revoked: false, allowedRoutes: null, actorId: null }
  for (const { method, template } of routes) {
    const d = decide(engine, method, fill(template), session)
    t.equal(d.allow, expectedClass(template) !== 'manage', `${method} ${template}`)
  }
})
