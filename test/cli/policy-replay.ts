/**
 * `keygate policy replay`: recorded decisions (written by an authorizer with
 * the audit stage, as `keygate serve` writes them) against a bundle the OPA
 * CLI built that forbids deleting bots.
 */
import { join } from 'node:path'
import t from 'tap'
import { Audit } from '../../src/audit/index.js'
import { createAuthorizer } from '../../src/authorizer/index.js'
import { openStore } from '../../src/store/index.js'
import { forbidBotDeleteBundle } from '../helpers/bundles.js'
import { cli, cliJson, stores } from '../helpers/cli.js'
import { testPolicy } from '../helpers/server.js'

t.test('keygate policy replay', async (t) => {
  const bundle = forbidBotDeleteBundle(t)
  for (const [name, env] of await stores(t)) {
    await t.test(name, async (t) => {
      const run = cli(env)
      const json = cliJson(t, run)
      t.equal((await run('migrate')).code, 0)
      const user = await json('user', 'create', '--email', 'user@example.com')
      const key = await json('key', 'create', '--user', user.id)

      const deleted: string[] = []
      {
        const store = await openStore({ databaseUrl: env.KEYGATE_DATABASE_URL, dataDir: env.KEYGATE_DATA_DIR })
        const audit = await Audit.open({ store, cleanupIntervalMs: 0 })
        const authorizer = await createAuthorizer({ store, policy: await testPolicy(), onDecision: audit.record })
        const decide = async (method: string, path: string): Promise<string> =>
          (await authorizer.authorize({ method, path, headers: { authorization: `Bearer ${key.token as string}` }, scheme: 'https' })).decisionId
        deleted.push(await decide('POST', '/api/v1/bot/b1/delete'))
        await decide('GET', '/api/v1/bot/list')
        await decide('POST', '/api/v1/dataset/d1/delete')
        deleted.push(await decide('POST', '/api/v1/bot/b2/delete'))
        await authorizer.close()
        await audit.close()
        await store.close()
      }

      const report = await json('policy', 'replay', '--bundle', bundle, '--since', '24h')
      t.match(report, { revision: 'forbid-bot-delete', read: 4, replayed: 4 })
      t.same(report.changes.map((c: { decisionId: string }) => c.decisionId).sort(), [...deleted].sort(), 'exactly the bot deletions')
      t.same(report.byRoute, [{ route: 'POST /api/v1/bot/{botId}/delete', changed: 2, toDeny: 2, toAllow: 0 }])
      t.same(report.byReason, [{ reason: 'bot_delete_forbidden', added: 2, removed: 0 }])
      t.match(await json('policy', 'replay', '--bundle', bundle, '--limit', '1'), { read: 1, limit: 1 })

      const text = await run('policy', 'replay', '--bundle', bundle)
      t.equal(text.code, 0)
      t.match(text.stdout, /replayed 4 of 4 recorded decisions against revision forbid-bot-delete: 2 would change/)
      t.match(text.stdout, /POST \/api\/v1\/bot\/b1\/delete .* 200 allow +403 deny \(bot_delete_forbidden\)/)
      t.match(text.stdout, /POST \/api\/v1\/bot\/\{botId\}\/delete +2 +2 +0/)

      const missing = await run('policy', 'replay', '--bundle', join(bundle, '..', 'nope.tar.gz'))
      t.equal(missing.code, 1)
      t.match(missing.stderr, /cannot use the bundle .*nope\.tar\.gz: ENOENT/)
      for (const argv of [['--since', 'yesterday'], ['--limit', '0'], []]) {
        const bad = await run('policy', 'replay', ...(argv.length === 0 ? [] : ['--bundle', bundle]), ...argv)
        t.equal(bad.code, 2, `usage error: ${argv.join(' ') || 'no --bundle'}`)
      }
    })
  }
})
