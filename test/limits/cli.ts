/** `keygate user limit` and `keygate key limit`. */
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../src/cli/main.js'
import { tempDir } from '../helpers/temp.js'

t.test('limits set, capped and cleared from the CLI', async (t) => {
  const dir = tempDir(t, 'limits-cli')
  const env = { KEYGATE_DATA_DIR: join(dir, 'data') }
  const run = async (...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = ''
    let stderr = ''
    const code = await main(argv, { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env })
    return { code, stdout, stderr }
  }
  t.equal((await run('migrate')).code, 0)
  const parent = JSON.parse((await run('user', 'create', '--email', 'parent@example.com', '--json')).stdout)
  const child = JSON.parse((await run('user', 'create', '--email', 'child@example.com', '--parent', parent.id, '--json')).stdout)
  const key = JSON.parse((await run('key', 'create', '--user', child.id, '--json')).stdout)

  const set = await run('user', 'limit', parent.id, '--rate', '100/1', '--quota', '10000/month', '--json')
  t.equal(set.code, 0, set.stderr)
  t.same(JSON.parse(set.stdout), { id: parent.id, limits: { rate: { limit: 100, windowSeconds: 1 }, quota: { limit: 10000, period: 'month' } } })

  const over = await run('user', 'limit', child.id, '--rate', '101/1', '--quota', '10/month')
  t.equal(over.code, 1)
  t.match(over.stderr, /rate exceeds the parent's/)
  t.equal((await run('user', 'limit', child.id, '--rate', '50/1', '--quota', '10/month')).code, 0)
  const keyOver = await run('key', 'limit', key.id, '--rate', '60/1', '--quota', '5/month')
  t.equal(keyOver.code, 1)
  t.match(keyOver.stderr, /rate exceeds the account's/)
  t.equal((await run('key', 'limit', key.id, '--rate', '10/1', '--quota', '5/month')).code, 0)
  t.match((await run('key', 'limit', key.id, '--rate', 'fast')).stderr, /expected REQUESTS\/SECONDS/)
  t.equal((await run('key', 'limit', key.id)).code, 2, 'nothing to set')
  const keys = await run('key', 'list', '--user', child.id)
  t.match(keys.stdout, /LIMITS\n/)
  t.match(keys.stdout, new RegExp(`${key.id} .* rate 10/1, quota 5/month\n`), 'key list shows the limits')
  t.same(JSON.parse((await run('key', 'list', '--user', child.id, '--json')).stdout).items[0].rateLimits, { rate: { limit: 10, windowSeconds: 1 }, quota: { limit: 5, period: 'month' } })
  t.match((await run('user', 'list')).stdout, new RegExp(`${parent.id} .* rate 100/1, quota 10000/month\n`), 'user list shows the limits')
  t.match((await run('user', 'list', '--parent', parent.id)).stdout, new RegExp(`${child.id} .* rate 50/1, quota 10/month\n`))
  const cleared = await run('key', 'limit', key.id, '--clear', '--json')
  t.equal(cleared.code, 0, cleared.stderr)
  t.same(JSON.parse(cleared.stdout), { id: key.id, limits: null })
  t.match((await run('user', 'limit', 'usr_00000000000000000000', '--clear')).stderr, /no such/)
})
