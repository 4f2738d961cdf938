/** `keygate` as a user runs it: keys and sessions in --json have the HTTP API's shapes. */
import { join } from 'node:path'
import t from 'tap'
import { folder, keygate } from '../helpers/keygate-bin.js'

t.test('keys and sessions: the shapes of the API\'s answers, epoch milliseconds', async (t) => {
  const dir = folder(t)
  const data = join(dir, 'data')
  const admin = JSON.parse((await keygate(dir, ['bootstrap', '--email', 'admin@example.com', '--data-dir', data])).stdout) as { userId: string }
  const kid = JSON.parse((await keygate(dir, ['user', 'create', '--email', 'kid@example.com', '--parent', admin.userId, '--json', '--data-dir', data])).stdout)

  const key = JSON.parse((await keygate(dir, ['key', 'create', '--user', kid.id, '--json', '--data-dir', data])).stdout)
  t.same(Object.keys(key).sort(), ['createdAt', 'id', 'token'], 'as POST …/token/create answers')
  t.equal(typeof key.createdAt, 'number', 'epoch milliseconds')
  const keys = JSON.parse((await keygate(dir, ['key', 'list', '--user', kid.id, '--json', '--data-dir', data])).stdout)
  t.match(keys.items, [{ id: key.id, createdAt: key.createdAt, expiresAt: null, revokedAt: null, requestCount: 0 }])
  const rolled = JSON.parse((await keygate(dir, ['key', 'roll', key.id, '--grace-seconds', '60', '--json', '--data-dir', data])).stdout)
  t.not(rolled.id, key.id)
  t.equal((await keygate(dir, ['key', 'revoke', rolled.id, '--data-dir', data])).code, 0)
  t.equal((await keygate(dir, ['key', 'revoke', rolled.id, '--data-dir', data])).code, 1, 'already revoked: refused')

  const session = JSON.parse((await keygate(dir, ['session', 'create', '--user', kid.id, '--duration', '60', '--json', '--data-dir', data])).stdout)
  t.match(session, { id: /^ses_/, token: String, expiresAt: Number })
  t.equal((await keygate(dir, ['session', 'end', session.id, '--user', kid.id, '--data-dir', data])).code, 0)
})
