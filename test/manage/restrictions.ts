import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../src/cli/main.js'
import { createAccount, InvalidInputError, NotFoundError, RESTRICTIONS, setRestriction, updateAccount } from '../../src/manage/index.js'
import { InvalidValueError } from '../../src/store/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { testServer } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

const KNOWN = /known ones are impersonation, read-only, suspended/

t.test('the known flags are the policy\'s: its restrictions table and impersonation', async (t) => {
  const data = JSON.parse(await readFile(new URL('../../policies/keygate/data.json', import.meta.url), 'utf8')) as { restrictions: object }
  t.same([...RESTRICTIONS].sort(), [...Object.keys(data.restrictions), 'impersonation'].sort())
})

t.test('an unknown restriction flag is refused everywhere, with the known ones', (t) => forEachDatabase(t, async (t, _db, store) => {
  const user = await createAccount(store, { email: 'typo@example.com' })

  await t.test('manage/', async (t) => {
    await t.rejects(setRestriction(store, user.id, 'readonly', true), { name: 'InvalidInputError', message: KNOWN })
    await t.rejects(setRestriction(store, user.id, 'readonly', false), InvalidInputError, 'removing a typo is refused too')
    await t.rejects(updateAccount(store, user.id, { restrictions: ['read-only', 'suspend'] }), { message: KNOWN })
    await t.rejects(updateAccount(store, user.id, { name: 'x'.repeat(201) }), InvalidInputError, 'updates are validated')
    await t.rejects(updateAccount(store, user.id, { email: 'not an address' }), InvalidInputError)
    await t.rejects(setRestriction(store, 'usr_00000000000000000000', 'read-only', true), NotFoundError)
    t.same((await setRestriction(store, user.id, 'read-only', true)).restrictions, ['read-only'])
    t.same((await updateAccount(store, user.id, { restrictions: ['suspended', 'impersonation', 'suspended'] })).restrictions, ['impersonation', 'suspended'])
  })

  await t.test('the store', async (t) => {
    await t.rejects(store.addRestriction(user.id, 'readonly'), InvalidValueError)
    await t.rejects(store.updateUser(user.id, { restrictions: ['readonly'] }), InvalidValueError)
    t.same((await store.findUserById(user.id))?.restrictions, ['impersonation', 'suspended'], 'nothing was written')
  })

  await t.test('the operator API', async (t) => {
    const server = await testServer(t, store)
    const admin = await server.account({ role: 'admin' })
    const res = await server.app.inject({ method: 'POST', url: `/admin/v1/user/${user.id}/update`, headers: admin.headers, payload: { restrictions: ['readonly'] } })
    t.equal(res.statusCode, 400)
    t.equal(res.json().code, 'INVALID_REQUEST')
    t.match(res.json().message, /allowed values|impersonation/, 'the message names the known flags')
  })
}))

t.test('keygate restrict refuses a typo, names the known flags, and changes nothing', async (t) => {
  const dir = tempDir(t, 'restrict')
  const env = { KEYGATE_DATA_DIR: join(dir, 'data') }
  const run = async (...argv: string[]): Promise<{ code: number; out: string }> => {
    let out = ''
    const io = { stdout: { write: (s: string) => { out += s } }, stderr: { write: (s: string) => { out += s } }, env }
    return { code: await main(argv, io), out }
  }
  t.equal((await run('migrate', '-q')).code, 0, 'the CLI makes a store only when asked to')
  const created = JSON.parse((await run('user', 'create', '--email', 'cli@example.com', '--json', '-q')).out) as { id: string }
  const refused = await run('restrict', created.id, 'readonly')
  t.not(refused.code, 0, 'not exit 0')
  t.match(refused.out, KNOWN)
  t.same(JSON.parse((await run('restrict', created.id, 'read-only', '--json', '-q')).out).restrictions, ['read-only'], 'a known flag still works')
})
