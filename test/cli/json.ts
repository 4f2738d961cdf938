/** `keygate` as a user runs it: global options before or after the command, --json in the HTTP API's shapes, the store named on stderr. */
import { join } from 'node:path'
import t from 'tap'
import { folder, keygate } from '../helpers/keygate-bin.js'

t.test('global options before or after the command; --json in the API\'s shapes; the store named on stderr', async (t) => {
  const dir = folder(t)
  const data = join(dir, 'data')
  const boot = await keygate(dir, ['--data-dir', data, 'bootstrap', '--email', 'admin@example.com'])
  t.equal(boot.code, 0, boot.stderr)
  const admin = JSON.parse(boot.stdout) as { userId: string; token: string }
  t.same(Object.keys(admin).sort(), ['token', 'userId'])
  t.match(boot.stderr, `keygate: store: embedded ${data}`)

  const created = await keygate(dir, ['--json', '--data-dir', data, 'user', 'create', '--email', 'kid@example.com', '--parent', admin.userId])
  t.equal(created.code, 0, created.stderr)
  const kid = JSON.parse(created.stdout)
  t.match(kid, { parentId: admin.userId, email: 'kid@example.com', createdAt: Number, updatedAt: Number })
  t.notMatch(created.stdout, /store:/, 'stdout is the JSON alone')

  t.equal((await keygate(dir, ['user', 'create', '--email', 'other@example.com', '--data-dir', data])).code, 0)
  const listed = JSON.parse((await keygate(dir, ['user', 'list', '--take', '1', '--json', '--data-dir', data])).stdout)
  t.same(Object.keys(listed).sort(), ['cursor', 'items'], 'a page has `cursor`, as the API\'s lists')
  t.equal(typeof listed.cursor, 'string')
  t.notOk('nextCursor' in listed)
  const last = JSON.parse((await keygate(dir, ['user', 'list', '--cursor', listed.cursor, '--json', '--data-dir', data])).stdout)
  t.same(Object.keys(last), ['items'], 'the last page has none')

  const quiet = await keygate(dir, ['-q', 'user', 'fetch', kid.id, '--data-dir', data])
  t.equal(quiet.stderr, '', '--quiet says nothing on stderr')
  const deleted = await keygate(dir, ['user', 'delete', kid.id, '--data-dir', data, '--json'])
  t.same(JSON.parse(deleted.stdout), { id: kid.id })
  t.match(JSON.parse((await keygate(dir, ['user', 'fetch', kid.id, '--data-dir', data, '--json'])).stdout), { status: 'deleted' })
})
