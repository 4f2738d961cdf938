/** `keygate key list --unused-days [n] --older-than-days [n]`: the console's key-age filters in the CLI, with the operator's thresholds when no number is given. */
import t from 'tap'
import pg from 'pg'
import { main } from '../../src/cli/main.js'
import { createTestDatabase, testDatabases } from '../helpers/databases.js'

const DAY_MS = 86_400_000

t.test('key list filters by age', async (t) => {
  if (!testDatabases().some((driver) => driver.name === 'pg')) {
    t.plan(0, 'KEYGATE_TEST_DATABASE_URL is not set')
    return
  }
  const url = await createTestDatabase(t)
  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = ''
    let stderr = ''
    const code = await main(argv, { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env: { KEYGATE_DATABASE_URL: url, ...env } })
    return { code, stdout, stderr }
  }
  t.equal((await run(['migrate'])).code, 0)
  const admin = JSON.parse((await run(['bootstrap', '--email', 'admin@example.com'])).stdout) as { userId: string }
  const create = async (name: string): Promise<string> => JSON.parse((await run(['key', 'create', '--user', admin.userId, '--name', name, '--json'])).stdout).id
  const old = await create('old, never used')
  const used = await create('old, used lately')
  const middle = await create('40 days, never used')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const age = async (id: string, createdDaysAgo: number, usedDaysAgo: number | null): Promise<void> => {
    await client.query('UPDATE keygate_keys SET created_at = $2, last_used_at = $3 WHERE id = $1',
      [id, new Date(Date.now() - createdDaysAgo * DAY_MS), usedDaysAgo === null ? null : new Date(Date.now() - usedDaysAgo * DAY_MS)])
  }
  await age(old, 200, null)
  await age(used, 200, 2)
  await age(middle, 40, null)
  await client.end()

  const listed = async (flags: string[], env?: NodeJS.ProcessEnv): Promise<string[]> => {
    const res = await run(['key', 'list', '--user', admin.userId, '--json', ...flags], env)
    t.equal(res.code, 0, `${flags.join(' ')}: ${res.stderr}`)
    return JSON.parse(res.stdout).items.map((k: { id: string }) => k.id).sort()
  }
  t.same(await listed(['--unused-days', '30']), [old, middle].sort(), 'not used for 30 days, never-used keys counted from creation')
  t.same(await listed(['--older-than-days', '100']), [old, used].sort(), 'rotation due')
  t.same(await listed(['--unused-days', '30', '--older-than-days', '100']), [old], 'both')
  t.same(await listed(['--unused-days']), [old], 'no number: KEYGATE_KEY_UNUSED_DAYS, 90 by default')
  t.same(await listed(['--unused-days'], { KEYGATE_KEY_UNUSED_DAYS: '10' }), [old, middle].sort(), 'the operator\'s threshold')
  t.same(await listed(['--older-than-days'], { KEYGATE_KEY_ROTATION_DAYS: '30' }), [old, used, middle].sort())
  t.equal((await listed([])).length, 4, 'no filter: the bootstrap key too')
  const table = await run(['key', 'list', '--user', admin.userId, '--older-than-days', '100'])
  t.match(table.stdout, /old, never used/)
  t.notMatch(table.stdout, /40 days/)

  for (const bad of [['--unused-days', '0'], ['--unused-days', 'soon'], ['--older-than-days', '-3']]) {
    const res = await run(['key', 'list', '--user', admin.userId, ...bad])
    t.equal(res.code, 2, `${bad.join(' ')} is a usage error`)
    t.match(res.stderr, /expected a whole number from 1 to 99999/)
  }
  const env = await run(['key', 'list', '--user', admin.userId, '--unused-days'], { KEYGATE_KEY_UNUSED_DAYS: 'never' })
  t.equal(env.code, 1, 'a bad variable is a configuration error, named')
  t.match(env.stderr, /KEYGATE_KEY_UNUSED_DAYS/)
})
