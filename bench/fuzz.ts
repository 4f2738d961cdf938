/**
 * Fuzz run: generated requests (headers, paths, keys, tokens, impersonation
 * headers; test/helpers/fuzz.ts) through authorize(), the decision API and
 * forward-auth, each decided twice, against a populated embedded store.
 * Reports allows without a valid credential, 5xx and crashes (each must be 0),
 * and the other invariants; exits 1 if any was broken.
 *
 *   npx tsx bench/fuzz.ts [--requests 100000] [--seed 1]
 *
 * test/properties/requests.ts runs the same generator over a smaller count in CI.
 */
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { PolicyEngine } from '../src/policy/engine.js'
import { PgliteDatabase } from '../src/store/driver-pglite.js'
import { migrate, Store } from '../src/store/index.js'
import { check, fuzzWorld, requestArbitrary, type FuzzRequest, type Violation } from '../test/helpers/fuzz.js'

const { values } = parseArgs({ options: { requests: { type: 'string', default: '100000' }, seed: { type: 'string', default: String(Date.now() % 1_000_000) } } })
const REQUESTS = Number(values.requests)
const SEED = Number(values.seed)
const CHUNK = 2_000

const db = await PgliteDatabase.open({ dataDir: 'memory://', onError: () => {} })
await migrate(db)
const world = await fuzzWorld(new Store(db), await PolicyEngine.fromBundle())
const arbitrary = requestArbitrary(world)

const violations = new Map<Violation, number>()
const examples = new Map<Violation, FuzzRequest>()
const statuses = new Map<number, number>()
const channels = new Map<string, number>()
let validCredentials = 0
const started = performance.now()
for (let done = 0, chunk = 0; done < REQUESTS; chunk++) {
  const batch = fc.sample(arbitrary, { numRuns: Math.min(CHUNK, REQUESTS - done), seed: SEED + chunk })
  for (const request of batch) {
    const outcome = await check(world, request)
    statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
    channels.set(request.via, (channels.get(request.via) ?? 0) + 1)
    if (request.validCredential) validCredentials++
    for (const violation of outcome.violations) {
      violations.set(violation, (violations.get(violation) ?? 0) + 1)
      if (!examples.has(violation)) examples.set(violation, request)
    }
  }
  done += batch.length
  if (process.stderr.isTTY) process.stderr.write(`\r${done} / ${REQUESTS}`)
}
const seconds = (performance.now() - started) / 1000
await world.close()
await db.close()

const count = (v: Violation): number => violations.get(v) ?? 0
const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((sum, [, n]) => sum + n, 0)
if (process.stderr.isTTY) process.stderr.write('\n')
console.log(`Fuzz: ${REQUESTS} generated requests (seed ${SEED}), each decided twice and once by an authorizer without memo, in ${seconds.toFixed(1)} s`)
console.log(`  channels: ${[...channels].map(([c, n]) => `${c} ${n}`).join(', ')}; with a valid credential: ${validCredentials}`)
console.log(`  answers: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}`)
console.log(`  allows without a valid credential: ${count('allow_without_valid_credential')}   (must be 0)`)
console.log(`  5xx:                               ${fivexx}   (must be 0)`)
console.log(`  crashes:                           ${count('crash')}   (must be 0)`)
console.log(`  invalid credential not 401:        ${count('invalid_credential_not_401')}   (must be 0)`)
console.log(`  different answer the second time:  ${count('nondeterministic')}   (must be 0)`)
console.log(`  lossy run-as matches:              ${count('lossy_run_as_match')}   (must be 0)`)
console.log(`  write methods allowed as reads:    ${count('write_method_as_read')}   (must be 0)`)
console.log(`  two credential methods allowed:    ${count('two_credential_methods_allowed')}   (must be 0)`)
for (const [violation, request] of examples) console.log(`  first ${violation}: ${JSON.stringify(request).slice(0, 500)}`)
process.exitCode = violations.size === 0 && fivexx === 0 ? 0 : 1
