import t from 'tap'
import { isWellFormedSecretKey } from '../../src/credentials/secret-key.js'
import { cli, stores } from '../helpers/cli.js'

t.test('the commands on each store', async (t) => {
  for (const [name, env] of await stores(t)) {
    await t.test(name, async (t) => {
      const run = cli(env)
      t.equal((await run('migrate')).code, 0)

      const boot = await run('bootstrap', '--email', 'admin@example.com')
      t.equal(boot.code, 0, boot.stderr)
      const admin = JSON.parse(boot.stdout) as { userId: string; token: string }
      t.same(Object.keys(admin).sort(), ['token', 'userId'])
      t.ok(isWellFormedSecretKey(admin.token))
      const again = await run('bootstrap', '--email', 'other@example.com')
      t.equal(again.code, 1, 'bootstrap runs once')
      t.match(again.stderr, /already has accounts/)

      const parent = JSON.parse((await run('user', 'create', '--email', 'parent@example.com', '--json')).stdout)
      const child = await run('user', 'create', '--email', 'child@example.com', '--parent', parent.id, '--name', 'Kid', '--json')
      t.equal(child.code, 0, child.stderr)
      t.match(JSON.parse(child.stdout), { parentId: parent.id, name: 'Kid', role: 'user', status: 'active' })
      const dup = await run('user', 'create', '--email', 'CHILD@example.com', '--parent', parent.id)
      t.equal(dup.code, 1, 'e-mail taken among the same parent\'s children')
      const orphan = await run('user', 'create', '--email', 'x@example.com', '--parent', 'usr_00000000000000000000')
      t.equal(orphan.code, 1)
      t.match(orphan.stderr, /no such parent/)
      t.equal((await run('user', 'create', '--email', 'not-an-email')).code, 1)

      const children = JSON.parse((await run('user', 'list', '--parent', parent.id, '--json')).stdout)
      t.same(children.items.map((u: { email: string }) => u.email), ['child@example.com'])
      const text = (await run('user', 'list')).stdout
      t.match(text, /admin@example.com/)
      t.match(text, /parent@example.com/)

      const key = JSON.parse((await run('key', 'create', '--user', parent.id, '--name', 'ci', '--scope', 'bot:read', '--expires-in', '3600', '--json')).stdout)
      t.ok(isWellFormedSecretKey(key.token))
      const [made] = JSON.parse((await run('key', 'list', '--user', parent.id, '--json')).stdout).items
      t.match(made, { id: key.id, name: 'ci', scopes: ['bot:read'] })
      t.ok(made.expiresAt > Date.now(), 'epoch milliseconds')
      t.equal((await run('key', 'create', '--user', parent.id, '--scope', 'everything')).code, 1, 'bad scope')
      t.equal((await run('key', 'create', '--user', parent.id, '--expires-in', 'soon')).code, 2, 'bad number')

      const listed = await run('key', 'list', '--user', parent.id, '--json')
      t.notMatch(listed.stdout, key.token, 'a listing never shows the secret')
      t.same(JSON.parse(listed.stdout).items.map((k: { id: string }) => k.id), [key.id])

      t.equal((await run('key', 'revoke', key.id)).code, 0)
      t.equal((await run('key', 'revoke', key.id)).code, 1, 'already revoked')
      t.same(JSON.parse((await run('key', 'list', '--user', parent.id, '--json')).stdout).items, [], 'revoked keys leave the list')

      const restricted = JSON.parse((await run('restrict', parent.id, 'read-only', '--json')).stdout)
      t.same(restricted.restrictions, ['read-only'])
      t.same(JSON.parse((await run('restrict', parent.id, 'impersonation', '--json')).stdout).restrictions, ['impersonation', 'read-only'])
      t.same(JSON.parse((await run('unrestrict', parent.id, 'read-only', '--json')).stdout).restrictions, ['impersonation'])
      t.equal((await run('restrict', parent.id, 'Not A Flag')).code, 2, 'an unknown flag is a usage error')
      t.equal((await run('restrict', 'usr_00000000000000000000', 'read-only')).code, 1)

      const renamed = JSON.parse((await run('user', 'update', parent.id, '--name', 'Parent', '--disable', '--json')).stdout)
      t.match(renamed, { id: parent.id, name: 'Parent', status: 'disabled' })
      t.match(JSON.parse((await run('user', 'update', parent.id, '--enable', '--json')).stdout), { status: 'active' })
      t.equal((await run('user', 'update', parent.id)).code, 2, 'nothing to change')
      t.equal((await run('user', 'update', 'usr_00000000000000000000', '--name', 'x')).code, 1)
      const second = JSON.parse((await run('key', 'create', '--user', parent.id, '--json')).stdout)
      const rolled = JSON.parse((await run('key', 'roll', second.id, '--grace-seconds', '30', '--json')).stdout)
      t.ok(isWellFormedSecretKey(rolled.token))
      const afterRoll = JSON.parse((await run('key', 'list', '--user', parent.id, '--json')).stdout).items
      t.ok(afterRoll.find((k: { id: string; expiresAt: number }) => k.id === second.id).expiresAt <= Date.now() + 31_000, 'the old key expires after the grace')
      const childId = JSON.parse(child.stdout).id as string
      t.same(JSON.parse((await run('user', 'delete', childId, '--json')).stdout), { id: childId })
      t.equal((await run('user', 'delete', childId)).code, 1, 'already deleted')
      t.match(JSON.parse((await run('user', 'fetch', childId, '--json')).stdout), { status: 'deleted' })
    })
  }
})
