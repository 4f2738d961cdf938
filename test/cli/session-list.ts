/** `keygate session list`: live sessions only, in the API's shape, paged with the API's cursor. */
import { join } from 'node:path'
import t from 'tap'
import { folder, keygate } from '../helpers/keygate-bin.js'

t.test('lists live sessions, pages them, and leaves out ended ones', async (t) => {
  const dir = folder(t)
  const data = join(dir, 'data')
  const run = async (...args: string[]) => keygate(dir, [...args, '--data-dir', data])
  const admin = JSON.parse((await run('bootstrap', '--email', 'admin@example.com')).stdout) as { userId: string }
  const minted: Array<{ id: string; expiresAt: number }> = []
  for (let i = 0; i < 3; i++) {
    minted.push(JSON.parse((await run('session', 'create', '--user', admin.userId, '--duration', '600', '--allowed-route', 'bot/**', '--json')).stdout))
  }

  const first = JSON.parse((await run('session', 'list', '--user', admin.userId, '--take', '2', '--json')).stdout)
  t.same(first.items.map((s: { id: string }) => s.id), minted.slice(0, 2).map((s) => s.id), 'oldest first, two per page')
  t.same(Object.keys(first.items[0]).sort(), ['allowedRoutes', 'createdAt', 'expiresAt', 'id'], 'as GET /api/v1/session/list answers, no token')
  t.same(first.items[0].allowedRoutes, ['bot/**'])
  t.equal(first.items[0].expiresAt, minted[0]!.expiresAt, 'epoch milliseconds')
  t.type(first.cursor, 'string', 'more to come')
  const second = JSON.parse((await run('session', 'list', '--user', admin.userId, '--cursor', first.cursor, '--json')).stdout)
  t.same(second.items.map((s: { id: string }) => s.id), [minted[2]!.id])
  t.notOk('cursor' in second, 'the last page has no cursor')

  t.equal((await run('session', 'end', minted[1]!.id, '--user', admin.userId)).code, 0)
  const desc = JSON.parse((await run('session', 'list', '--user', admin.userId, '--order', 'desc', '--json')).stdout)
  t.same(desc.items.map((s: { id: string }) => s.id), [minted[2]!.id, minted[0]!.id], 'newest first, the ended one gone')

  const text = await run('session', 'list', '--user', admin.userId)
  t.equal(text.code, 0)
  t.match(text.stdout, /^ID\s+CREATED\s+EXPIRES\s+ALLOWED ROUTES/)
  t.notMatch(text.stdout + text.stderr, /eyJ/, 'no token is ever printed by a listing')

  const bad = await run('session', 'list', '--user', admin.userId, '--order', 'sideways')
  t.equal(bad.code, 2, 'a usage error')
})
