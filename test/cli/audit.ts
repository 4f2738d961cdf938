import { join } from 'node:path'
import t from 'tap'
import { Audit } from '../../src/audit/index.js'
import { createAuthorizer } from '../../src/authorizer/index.js'
import { openStore } from '../../src/store/index.js'
import { cli, cliJson, stores } from '../helpers/cli.js'
import { missing, OPA } from '../helpers/requires.js'
import { testPolicy } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

t.test('keygate audit, key usage and policy explain', async (t) => {
  for (const [name, env] of await stores(t)) {
    await t.test(name, async (t) => {
      const run = cli(env)
      const json = cliJson(t, run)
      t.equal((await run('migrate')).code, 0, 'a new store is made on purpose')
      const parent = await json('user', 'create', '--email', 'parent@example.com')
      const child = await json('user', 'create', '--email', 'child@example.com', '--parent', parent.id)
      const other = await json('user', 'create', '--email', 'other@example.com')
      const otherChild = await json('user', 'create', '--email', 'oc@example.com', '--parent', other.id)
      const key = await json('key', 'create', '--user', parent.id)
      const revoked = await json('key', 'create', '--user', parent.id)
      t.equal((await run('key', 'revoke', revoked.id)).code, 0)

      // Traffic through an authorizer with the audit stage, on the same store, as `keygate serve` would make it.
      let impersonatedId = ''
      {
        const store = await openStore({ databaseUrl: env.KEYGATE_DATABASE_URL, dataDir: env.KEYGATE_DATA_DIR })
        const audit = await Audit.open({ store, cleanupIntervalMs: 0 })
        const authorizer = await createAuthorizer({ store, policy: await testPolicy(), onDecision: audit.record })
        const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
        impersonatedId = (await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { ...bearer(key.token), 'x-runas-user-id': child.id }, scheme: 'https' })).decisionId
        await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: bearer(key.token), scheme: 'https' })
        await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { ...bearer(key.token), 'x-runas-user-id': otherChild.id }, scheme: 'https' })
        await authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: bearer(revoked.token), scheme: 'https' })
        await authorizer.close()
        await audit.close()
        await store.close()
      }

      const byDecision = await json('audit', 'list', '--decision-id', impersonatedId)
      t.match(byDecision.items, [{ decision_id: impersonatedId, subject: child.id, actor: parent.id, key_id: key.id, impersonated: true }])
      const byChild = await json('audit', 'list', '--user-id', child.id)
      t.equal(byChild.items.length, 1)
      const byParent = await json('audit', 'list', '--user-id', parent.id, '--kind', 'decision')
      t.equal(byParent.items.length, 3, 'as actor or subject (the revoked key\'s 401 has no subject)')
      const refused = await json('audit', 'list', '--key-id', key.id, '--status', '403')
      t.match(refused.items, [{ reason_codes: ['impersonation_not_parent'] }])
      const security = await json('audit', 'list', '--kind', 'security')
      t.match(security.items, [{ event: 'revoked_key_presented', key_id: revoked.id }])
      t.notOk(JSON.stringify(security).includes(revoked.token))
      const paged = await json('audit', 'list', '--take', '2')
      t.equal(paged.items.length, 2)
      t.type(paged.cursor, 'string')
      const rest = await json('audit', 'list', '--take', '100', '--cursor', paged.cursor)
      t.equal(rest.items.length, 3, 'five rows in all')
      t.equal((await json('audit', 'list', '--from', String(Date.now() + 60_000))).items.length, 0)

      const text = await run('audit', 'list', '--user-id', child.id)
      t.match(text.stdout, /^TIME\s+KIND\s+STATUS\s+SUBJECT\s+ACTOR\s+KEY\s+REQUEST\s+REASONS \/ EVENT\n/)
      t.match(text.stdout, new RegExp(`decision\\s+200\\s+${child.id}\\s+${parent.id}\\s+${key.id}\\s+GET /api/v1/bot/list`))
      for (const bad of [['audit', 'list', '--status', '418'], ['audit', 'list', '--kind', 'other'], ['audit', 'list', '--from', 'yesterday'], ['audit', 'list', '--bogus'], ['audit'], ['key', 'usage']]) {
        const result = await run(...bad)
        t.equal(result.code, 2, bad.join(' '))
        t.match(result.stderr, /add --help for usage|Usage: keygate/)
      }

      const usage = await json('key', 'usage', key.id)
      t.match(usage, { id: key.id, requestCount: 3, days: [{ day: new Date().toISOString().slice(0, 10), requests: 3, denied: 1 }] })
      t.type(usage.lastUsedAt, 'number', 'epoch milliseconds, as the API')
      t.equal((await run('key', 'usage', 'key_00000000000000000000')).code, 1)
      const listed = await json('key', 'list', '--user', parent.id)
      t.match(listed.items.find((k: { id: string }) => k.id === key.id), { requestCount: 3, lastUsedAt: Number })
      t.match((await run('key', 'list', '--user', parent.id)).stdout, /LAST USED\s+REQUESTS/)

      const explained = await json('policy', 'explain', '--method', 'GET', '--path', '/api/v1/bot/list',
        '--header', `Authorization: Bearer ${key.token}`, '--header', `X-RunAs-User-ID: ${otherChild.id}`)
      t.match(explained, {
        decision: { allow: false, status: 403, reasons: [{ code: 'impersonation_not_parent' }] },
        rules: [{ code: 'impersonation_not_parent', rule: 'impersonation_reasons', location: /authz\.rego:\d+$/ }],
        input: { runAs: [{ account: { id: otherChild.id } }] }
      })
      const explainText = await run('policy', 'explain', '--method', 'GET', '--path', '/api/v1/bot/list',
        '--header', `Authorization: Bearer ${key.token}`, '--header', `X-RunAs-User-ID: ${otherChild.id}`)
      t.match(explainText.stdout, /decision: {3}403 NOT_AUTHORIZED \(deny\)/)
      t.match(explainText.stdout, /impersonation_not_parent: .*\n {4}rule impersonation_reasons at policies\/keygate\/authz\/authz\.rego:\d+/)
      t.notOk(explainText.stdout.includes(key.token), 'the key is not printed back')
      t.equal((await run('policy', 'explain', '--method', 'GET')).code, 2, '--path is required')
      t.equal((await run('policy', 'explain', '--path', '/x', '--header', 'no colon')).code, 2)

      const pruned = await json('audit', 'prune', '--older-than-days', '1')
      t.equal(pruned.deleted, 0, 'nothing is a day old')
    })
  }
})

t.test('policy explain --trace: opa eval --explain on the Rego source', async (t) => {
  if (missing(t, 'opa')) return
  const dir = tempDir(t, 'explain')
  const run = cli({ KEYGATE_DATA_DIR: join(dir, 'data'), KEYGATE_OPA: OPA })
  t.equal((await run('migrate')).code, 0)
  const parent = JSON.parse((await run('user', 'create', '--email', 'p@example.com', '--json')).stdout)
  const stranger = JSON.parse((await run('user', 'create', '--email', 's@example.com', '--json')).stdout)
  const child = JSON.parse((await run('user', 'create', '--email', 'c@example.com', '--parent', stranger.id, '--json')).stdout)
  const key = JSON.parse((await run('key', 'create', '--user', parent.id, '--json')).stdout)
  const result = await run('policy', 'explain', '--method', 'GET', '--path', '/api/v1/bot/list',
    '--header', `Authorization: Bearer ${key.token}`, '--header', `X-RunAs-User-ID: ${child.id}`, '--trace', '--json')
  t.equal(result.code, 0, result.stderr)
  const explained = JSON.parse(result.stdout)
  t.ok(explained.trace.length > 10)
  t.ok(explained.trace.some((line: string) => /authz\.rego:\d+.*Fail t\.parentId = input\.principal\.id/.test(line)),
    'the trace shows the failed parent check in the target rule')
  t.notOk(result.stdout.includes(key.token))
})
