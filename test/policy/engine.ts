import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'
import t from 'tap'
import { toDecision } from '../../src/policy/decision.js'
import { PolicyEngine } from '../../src/policy/engine.js'
import { PolicyBundleError, PolicyFault } from '../../src/policy/errors.js'
import type { PolicyDecision, PolicyInput } from '../../src/policy/input.js'
import { buildBundle, ensureBundle, loadEngine } from './helpers/bundle.js'

const NOW = 1767225600000

function input (path = '/api/v1/bot/list', now = NOW, expiresAt: number | null = null): PolicyInput {
  return {
    version: 2,
    now,
    request: { method: 'GET', path, scheme: 'https' },
    credential: { type: 'secret_key', found: true, id: 'key_1', expiresAt, revoked: false, scopes: null, actorId: null },
    principal: { id: 'usr_1', parentId: null, role: 'user', status: 'active', restrictions: [] },
    actor: null,
    runAs: [],
  }
}

async function tarGz (files: Record<string, string | Buffer>): Promise<Buffer> {
  const p = pack()
  for (const [name, body] of Object.entries(files)) p.entry({ name }, body)
  p.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of p) chunks.push(chunk as Buffer)
  return gzipSync(Buffer.concat(chunks))
}

t.test('loads the built bundle and decides', async (t) => {
  const engine = await PolicyEngine.fromBundle(ensureBundle())
  t.match(engine.revision, /^[0-9a-f]{16}$/, 'revision is the content hash set by scripts/policy.sh')
  const d = engine.evaluate(input())
  t.same(d, { allow: true, status: 200, code: 'OK', reasons: [], subject: 'usr_1', actor: null, action: { resource: 'bot', verb: 'list', class: 'read' } })
})

t.test('loads from bytes as well as from a path', async (t) => {
  const { readFileSync } = await import('node:fs')
  const engine = await PolicyEngine.fromBundle(readFileSync(ensureBundle()))
  t.equal(engine.evaluate(input('/api/v1//list')).status, 403)
})

t.test('inputs missing facts are decided (deny), not faults', async (t) => {
  const engine = await loadEngine({ decisionCache: 0 })
  const broken: unknown[] = [
    {},
    { version: 2 },
    { ...input(), runAs: undefined },
    { ...input(), request: { method: 'GET' } },
    { ...input(), credential: { type: 'secret_key', found: true } },
    { ...input(), principal: { id: 'usr_1' } },
  ]
  for (const b of broken) {
    const d = engine.evaluate(b as PolicyInput)
    t.equal(d.allow, false, JSON.stringify(b))
    t.ok(d.reasons.length > 0)
  }
})

t.test('bad bundles are rejected with PolicyBundleError', async (t) => {
  const cases: Array<[string, string | Uint8Array]> = [
    ['missing file', t.testdir() + '/nope.tar.gz'],
    ['not gzip', Buffer.from('hello')],
    ['gzip but not tar', gzipSync(Buffer.alloc(1024, 7))],
    ['no WebAssembly module', await tarGz({ '/data.json': '{}', '/.manifest': '{"revision":"x"}' })],
    ['module is not WebAssembly', await tarGz({ '/policy.wasm': Buffer.from('not wasm') })],
    ['data.json is not JSON', await tarGz({ '/policy.wasm': Buffer.from('x'), '/data.json': '{' })],
    ['data.json is not an object', await tarGz({ '/policy.wasm': Buffer.from('x'), '/data.json': '[]' })],
    ['manifest revision is not a string', await tarGz({ '/policy.wasm': Buffer.from('x'), '/.manifest': '{"revision":1}' })],
  ]
  for (const [name, source] of cases) {
    await t.rejects(PolicyEngine.fromBundle(source), PolicyBundleError, name)
  }
  await t.rejects(PolicyEngine.fromBundle(t.testdir() + '/nope'), { code: 'POLICY_BUNDLE_INVALID', name: 'PolicyBundleError' })
  const error = await PolicyEngine.fromBundle(Buffer.from('hello')).catch((e: unknown) => e)
  t.ok(error instanceof PolicyFault, 'a bundle error is a policy fault (the authorizer answers 503)')
  await t.rejects(PolicyEngine.fromBundle(42 as unknown as string), TypeError)
  await t.rejects(PolicyEngine.fromBundle(ensureBundle(), { decisionCache: -1 }), TypeError)
})

t.test('a bundle without the keygate/authz/decision entrypoint is rejected', async (t) => {
  const other = buildBundle(t.testdir(), { 'x.rego': 'package keygate.authz\n\nother := 1\n' }, 'keygate/authz/other')
  await t.rejects(PolicyEngine.fromBundle(other), { name: 'PolicyBundleError', message: /no entrypoint keygate\/authz\/decision/ })
  const wrongModule = await tarGz({ '/policy.wasm': Buffer.alloc(0), '/.manifest': JSON.stringify({ wasm: [{ entrypoint: 'keygate/authz/decision', module: '/other.wasm' }] }) })
  await t.rejects(PolicyEngine.fromBundle(wrongModule), { name: 'PolicyBundleError', message: /no WebAssembly module/ }, 'the manifest names the module')
})

t.test('a bundle whose decision is not a decision fails its canary and is not loaded', async (t) => {
  const bytes = buildBundle(t.testdir(), { 'x.rego': 'package keygate.authz\n\ndecision := {"allow": true}\n' })
  await t.rejects(PolicyEngine.fromBundle(bytes), { name: 'PolicyBundleError', message: /canary/ })
})

t.test('malformed or failing policy output is a PolicyFault, never a decision', async (t) => {
  const good = { allow: false, status: 401, code: 'NOT_AUTHENTICATED', reasons: [{ code: 'x', msg: 'y' }], subject: null, actor: null, action: null }
  // The decision is data.outputs[path], so one bundle can return each malformed shape.
  const outputs: Record<string, unknown> = {
    '/api/v1/bot/list': good,
    '/allow-not-boolean': { ...good, allow: 'false' },
    '/status-418': { ...good, status: 418 },
    '/code-mismatch': { ...good, code: 'NOT_AUTHORIZED' },
    '/allow-with-401': { ...good, allow: true },
    '/allow-with-400': { ...good, allow: true, status: 400, code: 'INVALID_REQUEST' },
    '/400-with-another-code': { ...good, status: 400, code: 'NOT_AUTHENTICATED' },
    '/reasons-not-array': { ...good, reasons: 'nope' },
    '/reason-without-msg': { ...good, reasons: [{ code: 'x' }] },
    '/deny-without-reason': { ...good, reasons: [] },
    '/extra-field': { ...good, extra: 1 },
    '/missing-field': { allow: false, status: 401, code: 'NOT_AUTHENTICATED', reasons: [{ code: 'x', msg: 'y' }], subject: null, actor: null },
    '/bad-action-class': { ...good, action: { resource: 'bot', verb: 'list', class: 'everything' } },
    '/allow-without-subject': { ...good, allow: true, status: 200, code: 'OK', action: { resource: 'bot', verb: 'list', class: 'read' } },
    '/actor-equals-subject': { ...good, subject: 'u', actor: 'u' },
    '/array': [good],
    '/null': null,
  }
  outputs['/invalid-request'] = { ...good, status: 400, code: 'INVALID_REQUEST' }
  const rego = `package keygate.authz

decision := data.outputs[input.request.path] if input.request.path != "/conflict"

decision := "other" if input.request.path == "/conflict"

decision := data.outputs["/api/v1/bot/list"] if input.request.path == "/conflict"
`
  const engine = await PolicyEngine.fromBundle(buildBundle(t.testdir(), { 'p.rego': rego, 'data.json': JSON.stringify({ outputs }) }), { decisionCache: 0 })
  t.same(engine.evaluate(input('/api/v1/bot/list')), good)
  t.same(engine.evaluate(input('/invalid-request')), outputs['/invalid-request'], '400 INVALID_REQUEST is a decision')
  for (const path of [...Object.keys(outputs).filter((p) => p.startsWith('/') && p !== '/api/v1/bot/list' && p !== '/invalid-request'), '/undefined', '/conflict']) {
    t.throws(() => engine.evaluate(input(path)), PolicyFault, path)
  }
  t.throws(() => engine.evaluate(input('/conflict')), { code: 'POLICY_FAULT', message: /policy evaluation failed/ }, 'opa-wasm\'s thrown string is wrapped')
  t.same(engine.evaluate(input('/api/v1/bot/list')), good, 'the engine still works after a fault')
})

t.test('toDecision checks the result set strictly', async (t) => {
  const ok: PolicyDecision = { allow: true, status: 200, code: 'OK', reasons: [], subject: 'u1', actor: 'u0', action: { resource: 'bot', verb: 'list', class: 'read' } }
  t.same(toDecision([{ result: ok }]), ok)
  t.throws(() => toDecision([]), { message: /undefined/ })
  t.throws(() => toDecision(undefined), PolicyFault)
  t.throws(() => toDecision([{ result: ok }, { result: ok }]), PolicyFault)
  t.throws(() => toDecision([null]), PolicyFault)
  t.throws(() => toDecision([{ result: { ...ok, subject: 1 } }]), PolicyFault)
  t.throws(() => toDecision([{ result: { ...ok, actor: 2 } }]), PolicyFault)
  t.throws(() => toDecision([{ result: { ...ok, reasons: [{ code: '', msg: '' }] } }]), PolicyFault)
  t.throws(() => toDecision([{ result: { ...ok, reasons: [{ code: 'a', msg: 'b', c: 1 }] } }]), PolicyFault)
  t.throws(() => toDecision([{ result: { ...ok, action: { resource: 'bot', verb: 'list', class: 'read', x: 1 } } }]), PolicyFault)
  t.throws(() => toDecision([{ result: { ...ok, action: null } }]), PolicyFault, 'an allow names its action')
  t.throws(() => toDecision([{ result: { ...ok, subject: null, actor: null } }]), PolicyFault)
})

t.test('decision cache: a hit is always the answer the policy gives', async (t) => {
  const engine = await loadEngine({ decisionCache: 2 })
  const second = Math.floor(NOW / 1000) * 1000
  // The cache takes `now` to the second; a credential expiring inside that second is never cached.
  const expiring = (now: number): PolicyInput => input('/api/v1/bot/list', now, second + 500)
  t.equal(engine.evaluate(expiring(second + 499)).allow, true)
  t.equal(engine.evaluate(expiring(second + 500)).status, 401, 'expired at its millisecond, same second')
  t.equal(engine.evaluate(expiring(second + 499)).allow, true)
  const later = (now: number): PolicyInput => input('/api/v1/bot/list', now, second + 1000)
  t.equal(engine.evaluate(later(second + 1)).allow, true)
  t.equal(engine.evaluate(later(second + 999)).allow, true, 'hit within the second')
  t.equal(engine.evaluate(later(second + 1000)).status, 401, 'the next second is evaluated again')
  const a = engine.evaluate(input())
  const b = engine.evaluate(input())
  t.not(a, b, 'each call gets its own decision object')
  a.reasons.push({ code: 'mutated', msg: '' })
  t.same(engine.evaluate(input()).reasons, [], 'mutating a decision does not reach the cache')
})

t.test('decision cache: evicted entries are evaluated again', async (t) => {
  // A probe that reads the clock finer than the cache does: a hit answers as at the first call
  // of the second, an evaluation as at the call's own millisecond.
  const outputs = {
    early: { allow: true, status: 200, code: 'OK', reasons: [], subject: 'u1', actor: null, action: { resource: 'bot', verb: 'list', class: 'read' } },
    late: { allow: false, status: 401, code: 'NOT_AUTHENTICATED', reasons: [{ code: 'late', msg: 'late' }], subject: null, actor: null, action: null }
  }
  const rego = `package keygate.authz

decision := data.outputs.early if input.now % 1000 < 500

decision := data.outputs.late if input.now % 1000 >= 500
`
  const engine = await PolicyEngine.fromBundle(buildBundle(t.testdir(), { 'p.rego': rego, 'data.json': JSON.stringify({ outputs }) }), { decisionCache: 2 })
  const second = Math.floor(NOW / 1000) * 1000
  t.equal(engine.evaluate(input('/api/v1/bot/list', second + 100)).allow, true, 'evaluated early in the second')
  t.equal(engine.evaluate(input('/api/v1/bot/list', second + 900)).allow, true, 'later in the second: a hit')
  for (let i = 0; i < 2; i++) engine.evaluate(input(`/api/v1/bot/b${i}/fetch`, second + 100))
  t.equal(engine.evaluate(input('/api/v1/bot/list', second + 900)).allow, false, 'evicted: evaluated again')
})

t.test('config settings are laid over the bundle data', async (t) => {
  ensureBundle()
  const input = {
    version: 2 as const,
    now: 1_700_000_000_000,
    request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'http' as const },
    credential: { type: 'secret_key' as const, found: true, id: 'key_1', prefix: 'sk-abc', expiresAt: null, revoked: false, scopes: null, actorId: null },
    principal: { id: 'usr_1', parentId: null, role: 'user' as const, status: 'active' as const, restrictions: [] },
    actor: null,
    runAs: []
  }
  const plain = await PolicyEngine.fromBundle(undefined, {})
  t.equal(plain.evaluate(input).status, 200, 'the bundle default allows plain HTTP')
  const strict = await PolicyEngine.fromBundle(undefined, { config: { require_https: true } })
  const refused = strict.evaluate(input)
  t.equal(refused.status, 403)
  t.same(refused.reasons.map((r) => r.code), ['insecure_transport'])
  t.equal(strict.evaluate({ ...input, request: { ...input.request, scheme: 'https' } }).status, 200)
  await t.rejects(PolicyEngine.fromBundle(undefined, { config: { no_such_setting: 1 } }), PolicyBundleError)
})
