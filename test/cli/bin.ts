/**
 * The real `keygate` executable (bin/keygate.js, which runs the sources
 * through tsx), spawned as a user would run it: help never acts, global
 * options go anywhere, typos get a suggestion, usage errors exit 2, --json
 * has the HTTP API's shapes, and the CLI works beside a server that holds
 * the embedded store.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { testPolicy } from '../helpers/server.js'

const BIN = fileURLToPath(new URL('../../bin/keygate.js', import.meta.url))

interface Run { code: number | null; stdout: string; stderr: string }

/** An environment without the caller's KEYGATE_* variables (the test suite's own included). */
function cleanEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('KEYGATE_')) env[name] = value
  return { ...env, ...extra }
}

async function keygate (cwd: string, argv: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...argv], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
  return { code, stdout, stderr }
}

function folder (t: Tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-bin-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

t.test('--help on any command prints its usage and runs nothing', async (t) => {
  const dir = folder(t)
  for (const argv of [['--help'], ['audit', 'prune', '--help'], ['migrate', '--help'], ['audit', '--help'], ['user', 'create', '--help'],
    ['bootstrap', '--help'], ['key', 'revoke', 'key_x', '--help'], ['serve', '--help'], ['doctor', '-h']]) {
    const run = await keygate(dir, argv)
    t.equal(run.code, 0, argv.join(' '))
    t.match(run.stdout, /^Usage: keygate/, argv.join(' '))
    t.notMatch(run.stdout + run.stderr, /^deleted \d|keygate: store:|^created |up to date/m, `${argv.join(' ')} did nothing`)
  }
  t.same(readdirSync(dir), [], 'no store was opened or created')
  t.match((await keygate(dir, ['user', 'create', '--help'])).stdout, /--email <email>/)
})

t.test('--version', async (t) => {
  const run = await keygate(folder(t), ['--version'])
  t.equal(run.code, 0)
  t.match(run.stdout, /^\d+\.\d+\.\d+\n$/)
})

t.test('usage errors exit 2 with a hint; a typo gets a suggestion', async (t) => {
  const dir = folder(t)
  const typo = await keygate(dir, ['usr', 'list'])
  t.equal(typo.code, 2)
  t.match(typo.stderr, /unknown command 'usr'[\s\S]*Did you mean user\?/)
  const option = await keygate(dir, ['user', 'list', '--parnet', 'usr_x'])
  t.equal(option.code, 2)
  t.match(option.stderr, /unknown option '--parnet'[\s\S]*Did you mean --parent\?/)
  for (const argv of [[], ['user'], ['user', 'create'], ['key', 'revoke'], ['key', 'create', '--user', 'u', '--expires-in', 'soon'],
    ['restrict', 'usr_x'], ['policy', 'deploy'], ['--database-url', 'mysql://db', 'user', 'list']]) {
    const run = await keygate(dir, argv)
    t.equal(run.code, 2, argv.join(' ') || '(nothing)')
  }
  const flag = await keygate(dir, ['user', 'restrict', 'usr_x', 'readonly'])
  t.equal(flag.code, 2, 'an unknown restriction flag is refused before any store is opened')
  t.match(flag.stderr, /unknown restriction "readonly"; the known ones are impersonation, read-only, suspended \(did you mean read-only\?\)/)
  t.same(readdirSync(dir), [])
  const secret = await keygate(dir, ['user', 'list', '--sk-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'])
  t.notMatch(secret.stderr, /AAAAAAAAAAAAAAAAAAAAAAAA/, 'an error never echoes what looks like a key')
})

t.test('in a folder with no store, the CLI refuses with a hint and creates nothing', async (t) => {
  const dir = folder(t)
  const run = await keygate(dir, ['user', 'list'])
  t.equal(run.code, 1)
  t.match(run.stderr, /no embedded store at .*\.keygate\/data: run keygate where `keygate serve` \(npm start\) keeps its \.keygate\//)
  t.equal(run.stderr.trim().split('\n').length, 1, 'one line, no stack trace')
  t.notOk(existsSync(join(dir, '.keygate')))
})

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

  const quiet = await keygate(dir, ['-q', 'user', 'fetch', kid.id, '--data-dir', data])
  t.equal(quiet.stderr, '', '--quiet says nothing on stderr')
  const deleted = await keygate(dir, ['user', 'delete', kid.id, '--data-dir', data, '--json'])
  t.same(JSON.parse(deleted.stdout), { id: kid.id })
  t.match(JSON.parse((await keygate(dir, ['user', 'fetch', kid.id, '--data-dir', data, '--json'])).stdout), { status: 'deleted' })
})

t.test('an unknown KEYGATE_* variable is warned about with the closest known one', async (t) => {
  const dir = folder(t)
  const run = await keygate(dir, ['user', 'list'], cleanEnv({ KEYGATE_DATABSE_URL: 'postgres://db/k' }))
  t.match(run.stderr, 'keygate: warning: KEYGATE_DATABSE_URL is not a Keygate variable, so it is ignored (did you mean KEYGATE_DATABASE_URL?)')
})

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
      if (url !== undefined) resolve(url)
    })
  })
  const url = await listening
  const adminKey = /key: {5}(sk-\w+)/.exec(out)?.[1] as string

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
