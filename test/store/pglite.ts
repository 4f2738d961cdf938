import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openStore, StoreUnavailableError } from '../../src/store/index.js'

t.test('an embedded database on disk: persistent, and one process at a time', async (t) => {
  const dataDir = join(t.testdir(), 'nested', 'data')
  const lockFile = `${dataDir}.lock`

  const store = await openStore({ dataDir })
  const user = await store.createUser({ email: 'a@example.com' })
  t.ok(existsSync(lockFile), 'locked while open')
  const error = await openStore({ dataDir }).catch((e: unknown) => e)
  t.ok(error instanceof StoreUnavailableError, 'a second opener is refused')
  t.match(error, { message: new RegExp(`in use by process ${process.pid}`) })
  await store.close()
  t.notOk(existsSync(lockFile), 'unlocked on close')

  // A lock left behind by a process that has ended is taken over.
  const ended = spawnSync(process.execPath, ['-e', '']).pid
  writeFileSync(lockFile, String(ended))
  const reopened = await openStore({ dataDir })
  t.teardown(async () => { await reopened.close() })
  t.same(await reopened.findUserById(user.id), user, 'the data is still there')
})
