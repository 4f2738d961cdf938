// Figure 3. Embedded authorize() with a cached principal, on one core (this
// process, one thread, awaiting each call), and policy evaluation alone.
// Baseline for the evaluation: opa-wasm's own LoadedPolicy.evaluate on the same
// module, data and input (what an integration without Keygate's engine would call).
import { readFile } from 'node:fs/promises'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { createAuthorizer, defaultBundlePath, PolicyEngine } from '../dist/index.js'
import { readBundle } from '../dist/policy/bundle.js'
import { throwawayDatabase } from './lib/db.js'
import { smallFixture } from './lib/fixture.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'
import { measureCalls as measure } from './lib/stats.js'

const ROUNDS = SMALL ? 3 : 5
const SECONDS = SMALL ? 1 : 2
// A few distinct requests, as an API client makes them; the same ones for every variant.
const PATHS = ['/api/v1/bot/list', '/api/v1/bot/bot_123/fetch', '/api/v1/bot/bot_123/update', '/api/v1/dataset/create',
  '/api/v1/conversation/conv_9/message/list', '/v1/memory/search', '/api/v1/skillset/sk_1/ability/list', '/api/v1/bot/bot_456/delete']

const db = await throwawayDatabase('embedded')
try {
  const fx = await smallFixture(db.url)
  const defaultEngine = await PolicyEngine.fromBundle(defaultBundlePath())
  const uncachedEngine = await PolicyEngine.fromBundle(defaultBundlePath(), { decisionCache: 0 })
  const withCache = await createAuthorizer({ databaseUrl: db.url, policy: defaultEngine })
  const withoutMemo = await createAuthorizer({ databaseUrl: db.url, policy: defaultEngine, decisionMemo: 0 })
  const withoutCache = await createAuthorizer({ databaseUrl: db.url, policy: uncachedEngine, decisionMemo: 0 })

  const requests = (extra) => PATHS.map((path) => ({ method: 'POST', path, scheme: 'https', headers: { authorization: `Bearer ${fx.key}`, ...extra } }))
  const plain = requests({})
  const impersonating = requests({ 'x-runas-user-id': fx.childId })

  // The inputs Keygate builds for those requests, for the evaluation-only variants.
  const inputs = []
  // Copies: a record's input is read-only (the decision memo shares it).
  const recorder = await createAuthorizer({ databaseUrl: db.url, policy: uncachedEngine, onDecision: ({ input }) => { inputs.push(structuredClone(input)) } })
  for (const request of plain) {
    const decision = await recorder.authorize(request)
    if (!decision.allow) throw new Error(`fixture request refused: ${request.path} ${decision.code}`)
  }
  await recorder.close()

  const bundle = await readBundle(await readFile(defaultBundlePath()), 'keygate/authz/decision')
  const sdk = await loadPolicy(bundle.wasm)
  sdk.setData(bundle.data)

  // Warm the principal caches.
  for (const request of [...plain, ...impersonating]) {
    for (const authorizer of [withCache, withoutMemo, withoutCache]) {
      const d = await authorizer.authorize(request)
      if (!d.allow) throw new Error(`fixture request refused: ${request.path} ${d.code}`)
    }
  }

  const variants = [
    { name: 'authorize', fn: (i) => withCache.authorize(plain[i & 7]) },
    { name: 'authorize-impersonating', fn: (i) => withCache.authorize(impersonating[i & 7]) },
    { name: 'authorize-no-memo', fn: (i) => withoutMemo.authorize(plain[i & 7]) },
    { name: 'authorize-no-decision-cache', fn: (i) => withoutCache.authorize(plain[i & 7]) },
    // Every call a new `now`: no decision cache can answer it.
    { name: 'evaluate', fn: (i) => { const input = inputs[i & 7]; input.now++; uncachedEngine.evaluate(input) } },
    { name: 'sdk-evaluate', fn: (i) => { const input = inputs[i & 7]; input.now++; sdk.evaluate(input, 'keygate/authz/decision') } }
  ]
  for (const v of variants) await measure(v.fn, 0.5) // warm-up (JIT)
  const samples = await alternate(variants, ROUNDS, async (v, r) => {
    const s = await measure(v.fn, SECONDS)
    log(`round ${r} ${v.name.padEnd(30)} ${String(Math.round(s.rate)).padStart(8)}/CPU-s  ${String(Math.round(s.wallRate)).padStart(8)}/s  p50 ${s.p50.toFixed(1)} µs  p99 ${s.p99.toFixed(1)} µs`)
    return s
  })
  const m = (name, field) => med(samples[name], field)
  const row = (variant, name, extra = {}) => ({
    figure: 3, name, value: round(m(variant, 'rate')), unit: 'decisions/s', p99: `${round(m(variant, 'p99'), 1)} µs`, ...extra
  })
  const target = (variant) => ({ target: '≥ 100,000/s', met: m(variant, 'rate') >= 100_000 })
  const rows = [
    row('authorize', 'authorize(), cached key, 8 paths (decision memo and decision cache on, default)', target('authorize')),
    row('authorize-impersonating', 'authorize(), cached key + X-RunAs-User-ID (defaults)', target('authorize-impersonating')),
    row('authorize-no-memo', 'authorize(), cached key, decision memo off (decisionMemo: 0; the decision cache answers)',
      { note: 'what each request costs when no request repeats within a second but the inputs do' }),
    row('authorize-no-decision-cache', 'authorize(), cached key, decision memo and decision cache off (every call evaluates)',
      { note: 'what a stream of all-distinct requests costs' }),
    row('evaluate', 'policy evaluation alone (PolicyEngine.evaluate, no cache)', {
      unit: 'evaluations/s',
      baseline: { name: 'opa-wasm LoadedPolicy.evaluate, same module and input', value: round(m('sdk-evaluate', 'rate')), p99: `${round(m('sdk-evaluate', 'p99'), 1)} µs` },
      ratio: round(m('evaluate', 'rate') / m('sdk-evaluate', 'rate'), 2)
    })
  ]
  await withCache.close()
  await withoutMemo.close()
  await withoutCache.close()
  report('embedded', rows, { rounds: ROUNDS, secondsPerRound: SECONDS, paths: PATHS, samples })
} finally {
  await db.drop()
}
