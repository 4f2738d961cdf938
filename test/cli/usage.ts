/** `keygate` as a user runs it: help never acts, --version, typos get a suggestion, usage errors exit 2, no store is made by accident. */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BIN, cleanEnv, folder, keygate } from '../helpers/keygate-bin.js'

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

t.test('an unknown KEYGATE_* variable is warned about with the closest known one', async (t) => {
  const dir = folder(t)
  const run = await keygate(dir, ['user', 'list'], cleanEnv({ KEYGATE_DATABSE_URL: 'postgres://db/k' }))
  t.match(run.stderr, 'keygate: warning: KEYGATE_DATABSE_URL is not a Keygate variable, so it is ignored (did you mean KEYGATE_DATABASE_URL?)')
})

t.test('with neither the sources and tsx nor a build, the bin says what to run, in one line', async (t) => {
  const dir = folder(t)
  mkdirSync(join(dir, 'bin'))
  copyFileSync(BIN, join(dir, 'bin', 'keygate.js'))
  const run = await keygate(dir, ['--help'], cleanEnv(), join(dir, 'bin', 'keygate.js'))
  t.equal(run.code, 1)
  t.equal(run.stderr, 'keygate: not built: run `npm run build` (or `npm ci` in a checkout, to run from the sources)\n')
})
