/**
 * Every case in test/fixtures/policy-cases.json through the compiled WASM.
 * `opa test` runs the same file (policies/keygate/authz/fixtures_test.rego),
 * so the interpreter and the WASM build are held to the same answers.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { PolicyDecision, PolicyInput } from '../../src/policy/input.js'
import { loadEngine, ROOT } from './helpers/bundle.js'

interface Expect {
  allow: boolean
  status: number
  code: string
  subject?: string | null
  actor?: string | null
  reasonCodes?: string[]
  class?: string | null
}

const cases: Array<{ name: string; input: PolicyInput; expect: Expect }> =
  JSON.parse(readFileSync(join(ROOT, 'test/fixtures/policy-cases.json'), 'utf8'))

function outcome (d: PolicyDecision, want: Expect): Expect {
  const all: Required<Expect> = {
    allow: d.allow,
    status: d.status,
    code: d.code,
    subject: d.subject,
    actor: d.actor,
    reasonCodes: d.reasons.map((r) => r.code),
    class: d.action === null ? null : d.action.class,
  }
  return Object.fromEntries(Object.keys(want).map((k) => [k, all[k as keyof Expect]])) as unknown as Expect
}

// Rego's sort order for {code, msg} objects: by code, then msg, bytewise.
function byCodeThenMsg (a: { code: string; msg: string }, b: { code: string; msg: string }): number {
  if (a.code !== b.code) return a.code < b.code ? -1 : 1
  return a.msg < b.msg ? -1 : a.msg > b.msg ? 1 : 0
}

t.test('the fixture file has the cases both runners share', async (t) => {
  t.ok(cases.length >= 60, `${cases.length} cases`)
  t.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are unique')
})

for (const cache of [0, 1024]) {
  t.test(`every fixture case through WASM (decision cache ${cache})`, async (t) => {
    const engine = await loadEngine({ decisionCache: cache })
    for (const c of cases) {
      const want = c.expect.reasonCodes === undefined ? c.expect : { ...c.expect, reasonCodes: [...c.expect.reasonCodes].sort() }
      const d = engine.evaluate(c.input)
      t.same(outcome(d, want), want, c.name)
      // Reasons reach the decision log sorted, so identical requests log identically.
      t.same(d.reasons, [...d.reasons].sort(byCodeThenMsg), `${c.name}: reasons sorted`)
    }
  })
}
