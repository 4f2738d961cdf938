import fc from 'fast-check'
import t from 'tap'
import { Store } from '../../src/store/index.js'
import { testPolicy } from '../helpers/authorizer.js'
import { testDatabases } from '../helpers/databases.js'
import { batchArbitrary, checkAll, fuzzWorld } from '../helpers/fuzz.js'

/**
 * Generated requests (headers, paths, keys, tokens, impersonation headers)
 * through the library, the decision API and forward-auth, in small batches
 * that share a credential; each answer is checked against a second asking and
 * against an authorizer with no memo or decision cache. `bench/fuzz.ts`
 * runs the same generator over 100,000 requests and more.
 */
const RUNS = Number(process.env.KEYGATE_FUZZ_RUNS ?? 600)

t.test('no allow without a valid credential, no 5xx, no crash, the same answer twice and from an authorizer without memo', async (t) => {
  const db = await testDatabases()[0]!.open(t, { migrated: true })
  const world = await fuzzWorld(new Store(db), await testPolicy())
  t.teardown(async () => { await world.close() })
  const statuses = new Map<number, number>()
  let allowedWithActor = 0
  await fc.assert(fc.asyncProperty(batchArbitrary(world), async (batch) => {
    const outcomes = await checkAll(world, batch)
    for (const [i, outcome] of outcomes.entries()) {
      statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
      if (outcome.allow && batch[i]?.actor !== null) allowedWithActor++
      if (outcome.violations.length > 0) throw new Error(`${outcome.violations.join(', ')} (status ${outcome.status})`)
    }
  }), { numRuns: RUNS, seed: process.env.KEYGATE_FUZZ_SEED === undefined ? undefined : Number(process.env.KEYGATE_FUZZ_SEED) })
  t.pass(`${RUNS} batches: ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`)
  for (const status of [200, 401, 403]) t.ok((statuses.get(status) ?? 0) > 0, `the generator reaches ${status}`)
  t.ok(allowedWithActor > 0, `the generator reaches allows with a credential a parent minted for its child (${allowedWithActor})`)
})
