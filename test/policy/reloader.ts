import { renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createAuthorizer, type AuthorizationResult } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { PolicyEngine } from '../../src/policy/engine.js'
import { PolicyBundleError } from '../../src/policy/errors.js'
import { PolicyReloader } from '../../src/policy/reloader.js'
import type { PolicySource } from '../../src/policy/source.js'
import { Store } from '../../src/store/index.js'
import { allowAllBundle, builtBundle, bundleServer, withRevision } from '../helpers/bundles.js'
import { testDatabases } from '../helpers/databases.js'
import { until } from '../helpers/until.js'
import { tempDir } from '../helpers/temp.js'

const pglite = testDatabases()[0]!

function builtBundlePath (t: Test): string {
  const path = join(tempDir(t, 'reload'), 'bundle.tar.gz')
  writeFileSync(path, builtBundle())
  return path
}

/** Replaces the file as a build does: write beside it, then rename over it. */
function replace (path: string, bytes: Uint8Array): void {
  writeFileSync(`${path}.tmp`, bytes)
  renameSync(`${path}.tmp`, path)
}

t.test('from a bundle file: a new bundle is picked up, a bad one refused and the last good one kept', async (t) => {
  const good = builtBundle()
  const next = await withRevision(good, 'rev-2')
  const path = join(tempDir(t, 'reload'), 'bundle.tar.gz')
  writeFileSync(path, good)
  const reloads: string[] = []
  const errors: PolicyBundleError[] = []
  const policy = await PolicyReloader.open({
    bundle: path,
    pollSeconds: 0.1,
    onReload: ({ revision }) => reloads.push(revision),
    onError: (error) => errors.push(error)
  })
  t.teardown(async () => { await policy.close() })
  const first = policy.current().revision
  t.not(first, '')
  t.match(policy.status(), { revision: first, source: path, reloads: 0, failures: 0, lastError: null })

  replace(path, next)
  await until(() => policy.current().revision === 'rev-2')
  t.same(reloads, ['rev-2'])

  writeFileSync(path, Buffer.from('not a bundle at all'))
  await until(() => errors.length === 1)
  t.type(errors[0], PolicyBundleError)
  t.equal(policy.current().revision, 'rev-2', 'the last good policy stays')

  replace(path, allowAllBundle(t))
  await until(() => errors.length === 2)
  t.match(errors[1]!.message, /smoke decision \(no credential\)/, 'a policy that allows without a credential is refused')
  t.equal(policy.current().revision, 'rev-2')

  rmSync(path)
  await until(() => errors.length === 3)
  t.match(errors[2]!.message, /cannot read policy bundle/)

  replace(path, good)
  await until(() => policy.current().revision === first)
  t.match(policy.status(), { revision: first, reloads: 2, failures: 3, lastError: { message: /cannot read/ } })
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(errors.length, 3, 'a refused version is not retried until it changes')
})

t.test('the first bundle must load', async (t) => {
  const path = join(tempDir(t, 'reload'), 'broken.tar.gz')
  writeFileSync(path, 'garbage')
  await t.rejects(PolicyReloader.open({ bundle: path }), PolicyBundleError)
  await t.rejects(PolicyReloader.open({ bundle: join(tempDir(t, 'reload'), 'missing.tar.gz') }), { code: 'POLICY_BUNDLE_INVALID' })
  await t.rejects(PolicyReloader.open({ bundle: builtBundlePath(t), pollSeconds: -1 }), TypeError)
})

t.test('from a bundle server, under load: a broken bundle fails no decision, a good one is swapped in with none failing', async (t) => {
  const db = await pglite.open(t, { migrated: true })
  const store = new Store(db)
  const user = await createAccount(store, { email: 'load@example.com' })
  const key = await issueKey(store, { userId: user.id })

  const good = builtBundle()
  const server = await bundleServer(t, good)
  const errors: PolicyBundleError[] = []
  const policy = await PolicyReloader.open({ bundle: server.url, pollSeconds: 0.05, onError: (error) => errors.push(error) })
  t.teardown(async () => { await policy.close() })
  const first = policy.current().revision
  const authorizer = await createAuthorizer({ store, policy })
  t.teardown(async () => { await authorizer.close() })

  const decisions: AuthorizationResult[] = []
  let stopped = false
  const worker = async (): Promise<void> => {
    while (!stopped) {
      decisions.push(await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${key.token}` } }))
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const workers = Array.from({ length: 4 }, worker)
  const pause = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

  await pause(200)
  t.ok((server.answered.get(304) ?? 0) > 0, 'unchanged: 304 to If-None-Match')
  server.serve(Buffer.from('this is not a bundle'))
  await until(() => errors.length === 1)
  await pause(200)
  t.equal(policy.current().revision, first, 'revision unchanged')
  t.equal(errors.length, 1, 'counted once: the broken version is not fetched again while its ETag stays')

  server.serve(allowAllBundle(t))
  await until(() => errors.length === 2)
  server.serve(503)
  await until(() => errors.length === 3)
  t.match(errors[2]!.message, /answered 503/)
  t.equal(policy.current().revision, first)

  server.serve(await withRevision(good, 'rev-2'))
  await until(() => policy.current().revision === 'rev-2', 10_000)
  const swapped = decisions.length
  await pause(200)
  stopped = true
  await Promise.all(workers)

  t.ok(decisions.length > 100, `decisions during the run (${decisions.length})`)
  t.same(decisions.filter((d) => d.status !== 200), [], 'zero failed decisions')
  t.same([...new Set(decisions.map((d) => d.policyRevision))].sort(), [first, 'rev-2'].sort(), 'each decision names the policy it ran on')
  t.ok(decisions.slice(swapped + 4).every((d) => d.policyRevision === 'rev-2'), 'the new policy decides from the swap on')
  t.match(policy.status(), { revision: 'rev-2', reloads: 1, failures: 3 })
})

t.test('a decision finishes on the policy it started with', async (t) => {
  const db = await pglite.open(t, { migrated: true })
  const store = new Store(db)
  const user = await createAccount(store, { email: 'inflight@example.com' })
  const key = await issueKey(store, { userId: user.id })
  const old = await PolicyEngine.fromBundle(builtBundle())
  const next = await PolicyEngine.fromBundle(await withRevision(builtBundle(), 'rev-next'))
  let engine = old
  const source: PolicySource = { current: () => engine, status: () => ({ revision: engine.revision } as never), close: async () => {} }
  const authorizer = await createAuthorizer({ store, policy: source })
  t.teardown(async () => { await authorizer.close() })
  const pending = authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${key.token}` } })
  engine = next // swapped while the decision waits for the store
  t.equal((await pending).policyRevision, old.revision)
  t.equal((await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: {} })).policyRevision, 'rev-next')
  t.equal(authorizer.policy.revision, 'rev-next')
})
