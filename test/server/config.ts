import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/server/config.js'
import { DEFAULT_BUNDLE_PATH } from '../../src/policy/engine.js'

t.test('defaults: loopback, 8080, embedded store, nothing trusted', async (t) => {
  t.same(loadConfig({}), {
    host: '127.0.0.1',
    port: 8080,
    databaseUrl: undefined,
    dataDir: undefined,
    tls: undefined,
    trustProxy: false,
    logLevel: 'info',
    policyBundle: DEFAULT_BUNDLE_PATH,
    policyPollSeconds: undefined,
    policyBundleToken: undefined,
    decisionTimeoutMs: 2000,
    staleIfErrorSeconds: 30,
    bootstrapEmail: 'admin@keygate.localhost',
    decisionReasons: false,
    decisionApiToken: undefined,
    requireHttps: false
  })
  t.equal(loadConfig({ KEYGATE_PORT: '  ', KEYGATE_HOST: '' }).port, 8080, 'empty means unset')
})

t.test('every variable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-config-'))
  writeFileSync(join(dir, 'cert.pem'), 'CERT')
  writeFileSync(join(dir, 'key.pem'), 'KEY')
  const config = loadConfig({
    KEYGATE_HOST: '0.0.0.0',
    KEYGATE_PORT: '0',
    KEYGATE_DATABASE_URL: 'postgres://db/keygate',
    KEYGATE_TLS_CERT: join(dir, 'cert.pem'),
    KEYGATE_TLS_KEY: join(dir, 'key.pem'),
    KEYGATE_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1, ::1',
    KEYGATE_LOG_LEVEL: 'WARN',
    KEYGATE_POLICY_BUNDLE: '/srv/bundle.tar.gz',
    KEYGATE_POLICY_POLL_SECONDS: '2.5',
    KEYGATE_POLICY_BUNDLE_TOKEN: 's3cret',
    KEYGATE_DECISION_TIMEOUT_MS: '1500',
    KEYGATE_STALE_IF_ERROR_SECONDS: '0',
    KEYGATE_BOOTSTRAP_EMAIL: 'root@example.com',
    KEYGATE_DECISION_REASONS: 'true',
    KEYGATE_DECISION_API_TOKEN: 'caller-token-0123456789abcdefghijklmnopqrstuvwxyz',
    KEYGATE_REQUIRE_HTTPS: 'true'
  })
  t.same(config, {
    host: '0.0.0.0',
    port: 0,
    databaseUrl: 'postgres://db/keygate',
    dataDir: undefined,
    tls: { cert: Buffer.from('CERT'), key: Buffer.from('KEY') },
    trustProxy: ['10.0.0.0/8', '127.0.0.1', '::1'],
    logLevel: 'warn',
    policyBundle: '/srv/bundle.tar.gz',
    policyPollSeconds: 2.5,
    policyBundleToken: 's3cret',
    decisionTimeoutMs: 1500,
    staleIfErrorSeconds: 0,
    bootstrapEmail: 'root@example.com',
    decisionReasons: true,
    decisionApiToken: 'caller-token-0123456789abcdefghijklmnopqrstuvwxyz',
    requireHttps: true
  })
  t.equal(loadConfig({ KEYGATE_TRUST_PROXY: 'true' }).trustProxy, true)
  t.throws(() => loadConfig({ KEYGATE_TRUST_PROXY: '2' }), /KEYGATE_TRUST_PROXY.*hop count cannot tell a proxy from a client/,
    'a hop count is refused: it would trust whoever connects directly (Fastify ignores one)')
  t.equal(loadConfig({ KEYGATE_DATA_DIR: '/var/lib/keygate' }).dataDir, '/var/lib/keygate')
  t.equal(loadConfig({ KEYGATE_POLICY_BUNDLE: 'https://bundles.example/v1/keygate.tar.gz' }).policyBundle, 'https://bundles.example/v1/keygate.tar.gz',
    'a bundle server')
})

t.test('every problem at once, each naming its variable', async (t) => {
  const error = t.throws(() => loadConfig({
    KEYGATE_PORT: '80000',
    KEYGATE_HOST: 'not a host!',
    KEYGATE_DATABASE_URL: 'mysql://db',
    KEYGATE_TLS_CERT: '/nonexistent.pem',
    KEYGATE_TRUST_PROXY: '10.0.0.0/99',
    KEYGATE_LOG_LEVEL: 'loud',
    KEYGATE_BOOTSTRAP_EMAIL: 'admin@localhost',
    KEYGATE_DECISION_REASONS: 'maybe',
    KEYGATE_REQUIRE_HTTPS: 'sometimes',
    KEYGATE_POLICY_BUNDLE: 'ftp://bundles.example/b.tar.gz',
    KEYGATE_POLICY_POLL_SECONDS: '-1',
    KEYGATE_DECISION_TIMEOUT_MS: '0',
    KEYGATE_STALE_IF_ERROR_SECONDS: 'long'
  })) as ConfigError
  t.type(error, ConfigError)
  t.equal(error.code, 'CONFIG_INVALID')
  for (const name of ['KEYGATE_PORT', 'KEYGATE_HOST', 'KEYGATE_DATABASE_URL', 'KEYGATE_TLS_CERT and KEYGATE_TLS_KEY go together',
    'KEYGATE_TRUST_PROXY', 'KEYGATE_LOG_LEVEL', 'KEYGATE_BOOTSTRAP_EMAIL', 'KEYGATE_DECISION_REASONS', 'KEYGATE_REQUIRE_HTTPS',
    'KEYGATE_POLICY_BUNDLE', 'KEYGATE_POLICY_POLL_SECONDS', 'KEYGATE_DECISION_TIMEOUT_MS', 'KEYGATE_STALE_IF_ERROR_SECONDS']) {
    t.match(error.message, name)
  }
  for (const token of ['short-token', `${'a'.repeat(40)} b`, `${'é'.repeat(40)}`]) {
    const refused = t.throws(() => loadConfig({ KEYGATE_DECISION_API_TOKEN: token }), { message: /KEYGATE_DECISION_API_TOKEN: must be at least 32 characters/ }) as Error
    t.notOk(refused.message.includes(token), 'the secret is not echoed in the error')
  }
  t.throws(() => loadConfig({ KEYGATE_TLS_CERT: '/nonexistent.pem', KEYGATE_TLS_KEY: '/nonexistent.key' }), { message: /KEYGATE_TLS_CERT=.*cannot read the file: ENOENT/ })
  t.throws(() => loadConfig({ KEYGATE_DATABASE_URL: 'postgres://db/k', KEYGATE_DATA_DIR: '.keygate/data' }), { message: /KEYGATE_DATA_DIR is for the embedded store/ })
})
