/**
 * The decision cache keys on the input with `now` in whole seconds, and never
 * caches an input whose credential expires within its second: for the
 * default policy, which reads `now` only against `credential.expiresAt`, a
 * cached answer is the answer the policy gives at that very millisecond.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DECISION_CACHE_RESOLUTION_MS, PolicyEngine } from '../../src/policy/engine.js'
import type { PolicyInput } from '../../src/policy/input.js'
import { buildBundle, loadEngine, ROOT } from './helpers/bundle.js'

const SECOND = 1767225600000 // a whole second
const cases: Array<{ name: string; input: PolicyInput }> =
  JSON.parse(readFileSync(join(ROOT, 'test/fixtures/policy-cases.json'), 'utf8'))

function keyInput (now: number, expiresAt: number | null): PolicyInput {
  return {
    version: 2,
    now,
    request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' },
    credential: { type: 'secret_key', found: true, id: 'key_1', expiresAt, revoked: false, scopes: null, actorId: null },
    principal: { id: 'usr_1', parentId: null, role: 'user', status: 'active', restrictions: [] },
    actor: null,
    runAs: [],
  }
}

t.test('every fixture case, at every offset in its second and around expiries, as the uncached engine decides', async (t) => {
  const cached = await loadEngine({ decisionCache: 4096 })
  const uncached = await loadEngine({ decisionCache: 0 })
  const offsets = [0, 1, 499, 500, 501, 998, 999, 1000, 1001, 1999]
  let compared = 0
  for (const c of cases) {
    const base = Math.floor(c.input.now / DECISION_CACHE_RESOLUTION_MS) * DECISION_CACHE_RESOLUTION_MS
    const expiries = [undefined, null, base + 500, base + 1000, base, base + 1, base - 1, base + 999]
    for (const expiresAt of expiries) {
      for (const offset of offsets) {
        const input = expiresAt === undefined || c.input.credential.found !== true
          ? { ...c.input, now: base + offset }
          : { ...c.input, now: base + offset, credential: { ...c.input.credential, expiresAt } }
        // Twice: the second call is the one a cache would answer.
        cached.evaluate(input)
        t.same(cached.evaluate(input), uncached.evaluate(input), `${c.name} now=+${offset} expiresAt=${expiresAt}`)
        compared++
      }
    }
  }
  t.ok(compared > 1000, `${compared} comparisons`)
})

t.test('a key expiring within the second is decided at the millisecond', async (t) => {
  const engine = await loadEngine({ decisionCache: 16 })
  const expiresAt = SECOND + 500
  t.equal(engine.evaluate(keyInput(SECOND + 499, expiresAt)).status, 200)
  t.equal(engine.evaluate(keyInput(SECOND + 500, expiresAt)).status, 401)
  t.equal(engine.evaluate(keyInput(SECOND + 499, expiresAt)).status, 200)
  t.equal(engine.evaluate(keyInput(SECOND + 1000, expiresAt)).status, 401)
})

t.test('the cache answers within the second and only then', async (t) => {
  // A policy that breaks the contract on purpose (it reports `now` to the millisecond) shows what was served from the cache.
  const rego = `package keygate.authz
import rego.v1
decision := {"allow": false, "status": 403, "code": "NOT_AUTHORIZED", "subject": "usr_1", "actor": null, "action": null,
  "reasons": [{"code": "at", "msg": sprintf("%d", [input.now])}]}
`
  const bytes = buildBundle(t.testdir(), { 'p.rego': rego })
  const engine = await PolicyEngine.fromBundle(bytes, { decisionCache: 16 })
  const at = (now: number): string => engine.evaluate({ ...keyInput(now, null) }).reasons[0]?.msg ?? ''
  t.equal(at(SECOND + 10), String(SECOND + 10))
  t.equal(at(SECOND + 900), String(SECOND + 10), 'same input within the second: the cached answer')
  t.equal(at(SECOND + 1000), String(SECOND + 1000), 'the next second: evaluated again')
  t.equal(at(SECOND + 10), String(SECOND + 10), 'a second seen before: evaluated again (that second was dropped)')
  const other = { ...keyInput(SECOND + 20, null), request: { method: 'GET', path: '/api/v1/bot/fetch', scheme: 'https' as const } }
  t.equal(engine.evaluate(other).reasons[0]?.msg, String(SECOND + 20), 'any other difference in the input: evaluated again')
  t.equal(at(SECOND + 30), String(SECOND + 10), 'still cached')

  const off = await PolicyEngine.fromBundle(bytes, { decisionCache: 0 })
  t.equal(off.evaluate(keyInput(SECOND + 10, null)).reasons[0]?.msg, String(SECOND + 10))
  t.equal(off.evaluate(keyInput(SECOND + 900, null)).reasons[0]?.msg, String(SECOND + 900), 'decisionCache: 0 evaluates every time')

  engine.clearDecisions()
  t.equal(at(SECOND + 40), String(SECOND + 40), 'clearDecisions: evaluated again')

  const expiring = keyInput(SECOND + 10, SECOND + 700)
  t.equal(engine.evaluate(expiring).reasons[0]?.msg, String(SECOND + 10))
  t.equal(engine.evaluate({ ...expiring, now: SECOND + 600 }).reasons[0]?.msg, String(SECOND + 600), 'a credential expiring within the second is never cached')
})

t.test('the cache is bounded and hands out copies', async (t) => {
  const engine = await loadEngine({ decisionCache: 2 })
  const a = engine.evaluate(keyInput(SECOND, null))
  a.reasons.push({ code: 'mutated', msg: '' })
  const b = engine.evaluate(keyInput(SECOND, null))
  t.not(a, b)
  t.same(b.reasons, [])
  b.action = null
  t.same(engine.evaluate(keyInput(SECOND, null)).action, { resource: 'bot', verb: 'list', class: 'read' })
})
