import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import fc from 'fast-check'
import t from 'tap'
import { readBundle } from '../../src/policy/bundle.js'
import { ENTRYPOINT, PolicyEngine } from '../../src/policy/engine.js'
import type { AccountFacts, CredentialFacts, PolicyInput, RunAsRequest } from '../../src/policy/input.js'
import { opaPath } from '../helpers/bundles.js'
import { tempDir } from '../helpers/temp.js'

/**
 * The compiled WebAssembly and the Rego it was compiled from, run by the OPA
 * CLI (`opa eval`), give the same decision on the same generated inputs.
 * All inputs go to one `opa eval` (a comprehension over an array of inputs),
 * so the CLI starts once.
 */
const RUNS = Number(process.env.KEYGATE_DIFFERENTIAL_RUNS ?? 1_000)
const ROOT = new URL('../../', import.meta.url).pathname
const ROUTES = readFileSync(join(ROOT, 'policies/routes.tsv'), 'utf8')
  .split('\n').slice(1).filter((line) => line.trim() !== '').map((line) => line.split('\t')[1] as string)

const NOW = 1_750_000_000_000
const id = (prefix: string): fc.Arbitrary<string> => fc.constantFrom(`${prefix}_aaaaaaaaaaaaaaaaaaaa`, `${prefix}_bbbbbbbbbbbbbbbbbbbb`, `${prefix}_cccccccccccccccccccc`)
const text = fc.string({ maxLength: 12 })
const scope = fc.oneof(fc.constantFrom('*', 'read', 'write', 'manage', 'bot:read', 'bot:*', 'dataset:write', 'partner:manage', 'token:manage', 'session:write'), text)
const glob = fc.oneof(fc.constantFrom('bot/**', '!bot/*/delete', 'dataset/*/fetch', '/api/v1/bot/**', '**', '!**', 'bot/list', 'BOT/**'), text)
const expiry = fc.oneof(fc.constant(null), fc.integer({ min: NOW - 10_000, max: NOW + 10_000 }))

const account: fc.Arbitrary<AccountFacts> = fc.record({
  id: id('usr'),
  parentId: fc.oneof(fc.constant(null), id('usr')),
  role: fc.constantFrom('user', 'admin'),
  status: fc.constantFrom('active', 'active', 'active', 'disabled', 'deleted'),
  restrictions: fc.subarray(['impersonation', 'read-only', 'suspended', 'custom-flag'])
})

/** Mostly none; else an account that may or may not be the principal's parent (an absent actorId is generated too). */
const actorId = fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: id('usr') })

const credential: fc.Arbitrary<CredentialFacts> = fc.oneof(
  fc.constantFrom<CredentialFacts>({ type: 'none', found: false }, { type: 'other_scheme', found: false }, { type: 'malformed', found: false },
    { type: 'secret_key', found: false }, { type: 'session', found: false }),
  fc.record({
    type: fc.constant('secret_key' as const),
    found: fc.constant(true),
    id: id('key'),
    prefix: fc.constant('sk-AbCdEf'),
    expiresAt: expiry,
    revoked: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    scopes: fc.oneof(fc.constant(null), fc.array(scope, { maxLength: 3 })),
    actorId
  }, { requiredKeys: ['type', 'found', 'id', 'prefix', 'expiresAt', 'revoked', 'scopes'] }),
  fc.record({
    type: fc.constant('session' as const),
    found: fc.constant(true),
    id: id('ses'),
    expiresAt: expiry,
    revoked: fc.boolean(),
    allowedRoutes: fc.oneof(fc.constant(null), fc.array(glob, { maxLength: 3 })),
    actorId
  }, { requiredKeys: ['type', 'found', 'id', 'expiresAt', 'revoked', 'allowedRoutes'] })
)

const runAs: fc.Arbitrary<RunAsRequest[]> = fc.array(fc.record({
  via: fc.constantFrom('user_id', 'email'),
  wellFormed: fc.boolean(),
  account: fc.oneof(fc.constant(null), account)
}), { maxLength: 2 })

const segment = fc.oneof(fc.constantFrom('bot_1', 'list', 'create', 'delete', 'fetch', 'update', '..', '%2e', '%2F', 'ÄÖ', 'a;b', 'x\\y', ''), text)
const path = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...ROUTES), segment).map(([route, s]) => route.replace(/\{[^}]+\}/g, s)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/api/v1/', '/v1/', '/admin/v1/', '/API/v1/', '/', ''), fc.array(segment, { maxLength: 5 })).map(([p, s]) => p + s.join('/')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) }
)

const anything: fc.Arbitrary<PolicyInput> = fc.record({
  version: fc.constant(2 as const),
  now: fc.constant(NOW),
  request: fc.record({
    method: fc.oneof(fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS', 'PURGE', 'get'), text),
    path,
    scheme: fc.constantFrom('http' as const, 'https' as const),
    queryAccessToken: fc.boolean()
  }),
  credential,
  principal: fc.oneof(fc.constant(null), account),
  actor: fc.oneof(fc.constant(null), account),
  runAs
})

const PARENT = 'usr_pppppppppppppppppppp'
const plausibleActorId = fc.constantFrom(null, null, PARENT)

/** Facts as the authorizer assembles them for a live credential of an active account: where allows happen. */
const plausible: fc.Arbitrary<PolicyInput> = fc.record({
  version: fc.constant(2 as const),
  now: fc.constant(NOW),
  request: fc.record({ method: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE', 'PUT', 'PATCH'), path, scheme: fc.constantFrom('http' as const, 'https' as const) }),
  credential: fc.oneof(
    fc.record({
      type: fc.constant('secret_key' as const),
      found: fc.constant(true),
      id: id('key'),
      prefix: fc.constant('sk-AbCdEf'),
      expiresAt: fc.constant(null),
      revoked: fc.constant(false),
      scopes: fc.oneof(fc.constant(null), fc.array(scope, { maxLength: 2 })),
      actorId: plausibleActorId
    }),
    fc.record({
      type: fc.constant('session' as const),
      found: fc.constant(true),
      id: id('ses'),
      expiresAt: fc.constant(NOW + 60_000),
      revoked: fc.constant(false),
      allowedRoutes: fc.oneof(fc.constant(null), fc.array(glob, { maxLength: 2 })),
      actorId: plausibleActorId
    })
  ),
  principal: fc.record({
    id: fc.constant('usr_aaaaaaaaaaaaaaaaaaaa'),
    parentId: fc.constantFrom(null, PARENT),
    role: fc.constantFrom('user', 'admin'),
    status: fc.constant('active'),
    restrictions: fc.subarray(['impersonation', 'read-only'])
  }),
  // The parent that minted the credential, as the store has it.
  actor: fc.oneof(fc.constant(null), fc.record({
    id: fc.constant(PARENT),
    parentId: fc.constant(null),
    role: fc.constant('user'),
    status: fc.constantFrom('active', 'active', 'disabled'),
    restrictions: fc.subarray(['impersonation', 'read-only', 'suspended'])
  })),
  runAs: fc.oneof(
    { weight: 3, arbitrary: fc.constant([]) },
    {
      weight: 1,
      arbitrary: fc.record({
        via: fc.constantFrom('user_id', 'email'),
        wellFormed: fc.constant(true),
        account: fc.record({
          id: fc.constant('usr_bbbbbbbbbbbbbbbbbbbb'),
          parentId: fc.constantFrom('usr_aaaaaaaaaaaaaaaaaaaa', null),
          role: fc.constant('user'),
          status: fc.constantFrom('active', 'disabled'),
          restrictions: fc.subarray(['read-only', 'suspended'])
        })
      }).map((r) => [r as RunAsRequest])
    }
  )
}) as fc.Arbitrary<PolicyInput>

const inputs = fc.oneof(anything, plausible)

t.test('compiled WebAssembly and opa eval agree on generated inputs', async (t) => {
  // Both sides from one snapshot of policies/, so that a concurrent edit cannot make them differ.
  const dir = tempDir(t, 'differential')
  cpSync(join(ROOT, 'policies'), join(dir, 'policies'), { recursive: true })
  const opa = opaPath()
  const ignore = ['--ignore', '*_test.rego', '--ignore', 'schema']
  const capabilities = join(ROOT, 'build/capabilities.json')
  execFileSync(opa, ['build', '-t', 'wasm', '-e', ENTRYPOINT, ...(existsSync(capabilities) ? ['--capabilities', capabilities] : []), ...ignore,
    '-o', join(dir, 'bundle.tar.gz'), join(dir, 'policies')], { stdio: 'pipe' })
  const bytes = readFileSync(join(dir, 'bundle.tar.gz'))
  const bundle = await readBundle(bytes, ENTRYPOINT)
  const wasm = await loadPolicy(bundle.wasm)
  wasm.setData(bundle.data)
  const engine = await PolicyEngine.fromBundle(bytes, { decisionCache: 0 })

  const cases = fc.sample(inputs, { numRuns: RUNS, seed: Number(process.env.KEYGATE_FUZZ_SEED ?? 42) })
  writeFileSync(join(dir, 'input.json'), JSON.stringify({ cases }))
  const query = `{i: d | some i, c in input.cases; d := data.${ENTRYPOINT.replaceAll('/', '.')} with input as c}`
  const out = JSON.parse(execFileSync(opa, ['eval', '--format', 'json', '-d', join(dir, 'policies'), ...ignore, '-i', join(dir, 'input.json'), query],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })) as { result?: Array<{ expressions: Array<{ value: Record<string, unknown> }> }> }
  const byRego = out.result?.[0]?.expressions[0]?.value ?? {}

  let mismatches = 0
  let allows = 0
  let allowsWithActor = 0
  cases.forEach((input, i) => {
    const resultSet = wasm.evaluate(input, ENTRYPOINT) as Array<{ result: unknown }>
    const byWasm = resultSet[0]?.result
    const rego = byRego[String(i)]
    if (JSON.stringify(sorted(byWasm)) !== JSON.stringify(sorted(rego))) {
      if (++mismatches <= 5) t.same(byWasm, rego, `case ${i}: ${JSON.stringify(input)}`)
    }
    // And through Keygate's own evaluator, which validates the decision.
    const decision = engine.evaluate(input)
    if (JSON.stringify(sorted(decision)) !== JSON.stringify(sorted(byWasm))) {
      if (++mismatches <= 5) t.same(decision, byWasm, `case ${i}, PolicyEngine: ${JSON.stringify(input)}`)
    }
    if (decision.allow) allows++
    if (decision.allow && input.credential.actorId != null) allowsWithActor++
  })
  t.equal(mismatches, 0, `${cases.length} inputs, the same decision from both (${allows} allowed)`)
  t.ok(allows > 0, 'the generator reaches allow')
  t.ok(allowsWithActor > 0, 'the generator reaches allow with a credential a parent minted for its child')
})

/** Object keys in order, so that two decisions compare by content. */
function sorted (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted((value as Record<string, unknown>)[key])]))
}
