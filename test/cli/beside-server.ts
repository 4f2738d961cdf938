/** `keygate` beside `keygate serve` on the embedded store: the CLI goes through the server's admin socket. */
import { spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BIN, cleanEnv, folder, keygate } from '../helpers/keygate-bin.js'
import { testPolicy } from '../helpers/server.js'

t.test('beside `keygate serve` on the embedded store, the CLI goes through the server\'s admin socket', async (t) => {
  await testPolicy()
  const dir = folder(t)
  const server = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dir, env: cleanEnv({ KEYGATE_PORT: '0', KEYGATE_DECISION_LOG: 'off' }), stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = new Promise<number | null>((resolve) => { server.on('close', resolve) })
  t.teardown(async () => { if (server.exitCode === null) { server.kill('SIGTERM'); await exited } })
  let out = ''
  const listening = new Promise<string>((resolve) => {
    server.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const url = /Server listening at (http:\/\/[\d.:]+)/.exec(out)?.[1]
      // The socket is opened once the HTTP server listens; its log line is the signal.
      if (url !== undefined && out.includes('"msg":"admin socket:')) resolve(url)
    })
  })
  const url = await listening
  const adminKey = /key: {5}(sk-\w+)/.exec(out)?.[1] as string

  t.equal(statSync(join(dir, '.keygate', 'data.sock')).mode & 0o777, 0o600, 'only the server\'s user may use the socket')
  const child = await keygate(dir, ['user', 'create', '--email', 'child@example.com', '--json'])
  t.equal(child.code, 0, child.stderr)
  t.match(child.stderr, /store: embedded .*\.keygate\/data, through the server running on it/)
  const { id } = JSON.parse(child.stdout) as { id: string }
  const key = JSON.parse((await keygate(dir, ['key', 'create', '--user', id, '--json'])).stdout) as { token: string }
  const check = async (token: string): Promise<number> => (await fetch(`${url}/v1/forward-auth`, {
    headers: { authorization: `Bearer ${token}`, 'x-original-uri': '/api/v1/bot/list', 'x-original-method': 'GET' }
  })).status
  t.equal(await check(key.token), 200, 'a key the CLI made through the socket works on the server at once')
  const keyId = JSON.parse((await keygate(dir, ['key', 'list', '--user', id, '--json'])).stdout).items[0].id
  t.equal((await keygate(dir, ['key', 'revoke', keyId])).code, 0)
  t.equal(await check(key.token), 401, 'and its revocation too')
  const refused = await keygate(dir, ['bootstrap', '--email', 'again@example.com'])
  t.equal(refused.code, 1, 'a refusal on the server is exit 1 with its reason')
  t.match(refused.stderr, /already has accounts/)
  t.equal((await keygate(dir, ['doctor'])).code, 0)
  t.ok(adminKey)

  server.kill('SIGTERM')
  t.equal(await exited, 0)
  t.notOk(existsSync(join(dir, '.keygate', 'data.sock')), 'the socket goes with the server')
  const after = await keygate(dir, ['user', 'list', '--json'])
  t.equal(after.code, 0, 'then the CLI opens the store itself')
  t.match(after.stderr, /store: embedded .*\.keygate\/data\n/)
})
