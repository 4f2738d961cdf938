import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig, sessionSettingsOf, type SessionSettings } from '../../src/config/index.js'
import { SessionConfigError } from '../../src/sessions/index.js'
import { parseSigningSecret, signingSecretFromFile } from '../../src/sessions/index.js'
import { open, seal } from '../../src/sessions/lib/seal.js'

const SECRET = randomBytes(32)

t.test('a signing secret is 32 bytes in hex, base64 or base64url', async (t) => {
  for (const text of [SECRET.toString('hex'), SECRET.toString('base64'), SECRET.toString('base64url'), ` ${SECRET.toString('base64')}\n`]) {
    t.same(parseSigningSecret(text), SECRET, JSON.stringify(text))
  }
  for (const bad of ['', 'hunter2', randomBytes(16).toString('hex'), randomBytes(31).toString('base64'), randomBytes(33).toString('base64'),
    SECRET.toString('hex').slice(1) + 'g']) {
    t.throws(() => parseSigningSecret(bad), SessionConfigError)
    try {
      parseSigningSecret(bad)
    } catch (error) {
      if (bad !== '') t.notOk((error as Error).message.includes(bad), 'the message never repeats the value')
    }
  }
})

t.test('the embedded key file is made once, 0600 in a 0700 folder, and refused when others may read it', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'keygate', 'signing.key')
  const secrets = await Promise.all([signingSecretFromFile(path), signingSecretFromFile(path), signingSecretFromFile(path)])
  t.equal(secrets[0]?.length, 32)
  t.same(secrets[1], secrets[0], 'processes starting together agree on one secret')
  t.same(secrets[2], secrets[0])
  t.same(await signingSecretFromFile(path), secrets[0], 'read back later')
  t.equal((await stat(path)).mode & 0o777, 0o600)
  t.equal((await stat(join(dir, 'keygate'))).mode & 0o777, 0o700)
  t.same(parseSigningSecret(await readFile(path, 'utf8')), secrets[0])

  await chmod(path, 0o644)
  await t.rejects(signingSecretFromFile(path), { code: 'SESSION_CONFIG_INVALID', message: /readable by other users; run: chmod 600/ })
  await chmod(path, 0o600)
  await writeFile(path, 'not a secret\n')
  await t.rejects(signingSecretFromFile(path), { code: 'SESSION_CONFIG_INVALID', message: /does not hold a 32-byte/ })
})

t.test('settings from the environment', async (t) => {
  const dir = t.testdir()
  const secret = SECRET.toString('base64')
  const pg = 'postgres://127.0.0.1/keygate'
  const settings = async (env: NodeJS.ProcessEnv): Promise<SessionSettings> => await sessionSettingsOf(loadConfig(env, { sessions: false }))

  t.same((await settings({ KEYGATE_SIGNING_SECRET: secret, KEYGATE_DATABASE_URL: pg })).options.secret, SECRET)
  await t.rejects(settings({ KEYGATE_DATABASE_URL: pg }), { code: 'CONFIG_INVALID', message: /KEYGATE_SIGNING_SECRET is required/ },
    'a PostgreSQL server needs a shared secret')
  t.throws(() => loadConfig({ KEYGATE_DATABASE_URL: pg }), { code: 'CONFIG_INVALID', message: /KEYGATE_SIGNING_SECRET is required/ },
    'and the server is told so with every other problem')
  t.throws(() => loadConfig({ KEYGATE_SIGNING_SECRET: 'short' }), { code: 'CONFIG_INVALID', message: /^(?![\s\S]*short)[\s\S]*KEYGATE_SIGNING_SECRET: the signing secret must be 32 bytes/ },
    'refused without echoing the value')

  const embedded = await settings({ KEYGATE_DATA_DIR: join(dir, 'state', 'data') })
  t.same(embedded.options.secret, parseSigningSecret(await readFile(join(dir, 'state', 'signing.key'), 'utf8')),
    'the embedded store keeps its key file beside its data folder')
  const custom = join(dir, 'elsewhere.key')
  await settings({ KEYGATE_SIGNING_KEY_FILE: custom, KEYGATE_DATA_DIR: join(dir, 'state', 'data') })
  t.equal((await stat(custom)).mode & 0o777, 0o600, 'KEYGATE_SIGNING_KEY_FILE moves it')
  t.equal((await settings({ KEYGATE_DATA_DIR: 'memory://' })).options.secret.length, 32, 'memory:// needs no file')

  const full = await settings({
    KEYGATE_DATABASE_URL: pg,
    KEYGATE_SIGNING_SECRET: secret,
    KEYGATE_SESSION_ISSUER: 'https://auth.example.com',
    KEYGATE_SESSION_AUDIENCE: 'api.example.com',
    KEYGATE_SESSION_DEFAULT_SECONDS: '300',
    KEYGATE_SESSION_MAX_SECONDS: '3600',
    KEYGATE_SIGNING_KEY_ROTATE_DAYS: '30'
  })
  t.match(full, {
    options: { issuer: 'https://auth.example.com', audience: 'api.example.com', defaultDurationSeconds: 300, maxDurationSeconds: 3600 },
    rotateAfterSeconds: 30 * 86_400
  })
  for (const [name, value] of [['KEYGATE_SESSION_MAX_SECONDS', '0'], ['KEYGATE_SESSION_MAX_SECONDS', '1h'], ['KEYGATE_SIGNING_KEY_ROTATE_DAYS', '-1']]) {
    t.throws(() => loadConfig({ KEYGATE_SIGNING_SECRET: secret, [name as string]: value }), { code: 'CONFIG_INVALID', message: new RegExp(name as string) })
  }
})

t.test('sealed private keys open only with the same secret and key id, unaltered', async (t) => {
  const plain = randomBytes(32)
  const sealed = seal(SECRET, 'sig_A', plain)
  t.same(open(SECRET, 'sig_A', sealed), plain)
  t.notOk(sealed.includes(plain), 'not in clear')
  t.notSame(seal(SECRET, 'sig_A', plain), sealed, 'a fresh nonce every time')
  t.throws(() => open(randomBytes(32), 'sig_A', sealed), 'another secret')
  t.throws(() => open(SECRET, 'sig_B', sealed), 'moved to another key id')
  const tampered = Buffer.from(sealed)
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
  t.throws(() => open(SECRET, 'sig_A', tampered), 'altered')
  t.throws(() => open(SECRET, 'sig_A', sealed.subarray(0, 20)), 'truncated')
})
