import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { DEFAULT_AUDIT_CONFIG, parseSinks } from '../../src/audit/index.js'
import { auditConfigOf, ConfigError, configWarnings, loadConfig, tlsOf } from '../../src/config/index.js'
import { DEFAULT_BUNDLE_PATH } from '../../src/policy/engine.js'
import { tempDir } from '../helpers/temp.js'

t.test('defaults: loopback, 8080, embedded store, nothing trusted', async (t) => {
  t.match(loadConfig({}), {
    host: '127.0.0.1',
    port: 8080,
    grpcPort: undefined,
    grpcRemoveAuthorization: false,
    databaseUrl: undefined,
    dataDir: undefined,
    tlsCert: undefined,
    tlsKey: undefined,
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
  const dir = tempDir(t, 'config')
  writeFileSync(join(dir, 'cert.pem'), 'CERT')
  writeFileSync(join(dir, 'key.pem'), 'KEY')
  const config = loadConfig({
    KEYGATE_SIGNING_SECRET: 'a'.repeat(64),
    KEYGATE_HOST: '0.0.0.0',
    KEYGATE_PORT: '0',
    KEYGATE_GRPC_PORT: '9191',
    KEYGATE_GRPC_REMOVE_AUTHORIZATION: 'yes',
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
  t.same(tlsOf(config), { cert: Buffer.from('CERT'), key: Buffer.from('KEY') })
  t.match(config, {
    host: '0.0.0.0',
    port: 0,
    grpcPort: 9191,
    grpcRemoveAuthorization: true,
    databaseUrl: 'postgres://db/keygate',
    dataDir: undefined,
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
    KEYGATE_GRPC_PORT: 'grpc',
    KEYGATE_GRPC_REMOVE_AUTHORIZATION: 'perhaps',
    KEYGATE_HOST: 'not a host!',
    KEYGATE_DATABASE_URL: 'mysql://db',
    KEYGATE_SESSION_MAX_SECONDS: 'forever',
    KEYGATE_DECISION_LOG: 'syslog',
    KEYGATE_SECURITY_IMPERSONATION_BURST: '3/0',
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
  for (const name of ['KEYGATE_PORT', 'KEYGATE_GRPC_PORT', 'KEYGATE_GRPC_REMOVE_AUTHORIZATION', 'KEYGATE_HOST', 'KEYGATE_DATABASE_URL', 'KEYGATE_TLS_CERT and KEYGATE_TLS_KEY go together',
    'KEYGATE_TRUST_PROXY', 'KEYGATE_LOG_LEVEL', 'KEYGATE_BOOTSTRAP_EMAIL', 'KEYGATE_DECISION_REASONS', 'KEYGATE_REQUIRE_HTTPS',
    'KEYGATE_POLICY_BUNDLE', 'KEYGATE_POLICY_POLL_SECONDS', 'KEYGATE_DECISION_TIMEOUT_MS', 'KEYGATE_STALE_IF_ERROR_SECONDS',
    'KEYGATE_SESSION_MAX_SECONDS', 'KEYGATE_DECISION_LOG', 'KEYGATE_SECURITY_IMPERSONATION_BURST']) {
    t.match(error.message, name)
  }
  for (const token of ['short-token', `${'a'.repeat(40)} b`, `${'é'.repeat(40)}`]) {
    const refused = t.throws(() => loadConfig({ KEYGATE_DECISION_API_TOKEN: token }), { message: /KEYGATE_DECISION_API_TOKEN: must be at least 32 characters/ }) as Error
    t.notOk(refused.message.includes(token), 'the secret is not echoed in the error')
  }
  t.throws(() => loadConfig({ KEYGATE_TLS_CERT: '/nonexistent.pem', KEYGATE_TLS_KEY: '/nonexistent.key' }), { message: /KEYGATE_TLS_CERT=.*cannot read the file: ENOENT/ })
  t.throws(() => loadConfig({ KEYGATE_DATABASE_URL: 'postgres://db/k', KEYGATE_DATA_DIR: '.keygate/data' }), { message: /KEYGATE_DATA_DIR is for the embedded store/ })
  t.throws(() => loadConfig({ KEYGATE_DECISION_LOG_BUFFER: '100', KEYGATE_DECISION_LOG_BATCH: '200' }), /must not exceed/)
  t.throws(() => loadConfig({ KEYGATE_GRPC_PORT: '8080' }), { message: /KEYGATE_GRPC_PORT=8080: KEYGATE_PORT already serves HTTP there/ }, 'gRPC on the HTTP port')
  t.equal(loadConfig({ KEYGATE_PORT: '0', KEYGATE_GRPC_PORT: '0' }).grpcPort, 0, 'both on ports of the system\'s choosing')
  const secret = t.throws(() => loadConfig({ KEYGATE_DATABASE_URL: 'mysql://user:hunter2@db', KEYGATE_POLICY_BUNDLE_TOKEN: ' ' })) as ConfigError
  t.notMatch(secret.message, /hunter2/, 'a URL with a password is named, not echoed')
  t.equal(secret.problems.length, 1, 'a blank variable is unset, not a problem')
})

t.test('the audit settings: the decision log in the store, 30 days, by default', async (t) => {
  t.same({ ...auditConfigOf(loadConfig({})), spoolDirectory: null }, DEFAULT_AUDIT_CONFIG)
  // The spool: a folder per database under KEYGATE_DECISION_LOG_SPOOL (never the password in its name), none in memory.
  const spoolOf = (env: NodeJS.ProcessEnv): string | null => auditConfigOf(loadConfig(env, { sessions: false })).spoolDirectory
  t.match(spoolOf({}), new RegExp(`^${resolve('.keygate/spool')}/[0-9a-f]{16}$`))
  const db = (password: string, name = 'k'): string => spoolOf({ KEYGATE_DATABASE_URL: `postgres://u:${password}@db/${name}`, KEYGATE_DECISION_LOG_SPOOL: '/var/spool/keygate' }) as string
  t.match(db('a'), /^\/var\/spool\/keygate\/[0-9a-f]{16}$/)
  t.equal(db('a'), db('b'), 'the same database, whatever the password')
  t.not(db('a'), db('a', 'other'), 'another database, another folder')
  t.not(spoolOf({ KEYGATE_DATA_DIR: '/srv/a' }), spoolOf({ KEYGATE_DATA_DIR: '/srv/b' }))
  t.equal(spoolOf({ KEYGATE_DATA_DIR: 'memory://' }), null, 'nothing outlives an in-memory store')
  t.equal(spoolOf({ KEYGATE_DECISION_LOG_SPOOL: 'off' }), null)
  t.match(auditConfigOf(loadConfig({
    KEYGATE_DECISION_LOG: 'stdout',
    KEYGATE_DECISION_LOG_BUFFER: '2000',
    KEYGATE_DECISION_LOG_BATCH: '100',
    KEYGATE_DECISION_LOG_RETENTION_DAYS: '0',
    KEYGATE_SECURITY_UNAUTHENTICATED_BURST: '50/300',
    KEYGATE_SECURITY_PLAIN_HTTP_SECONDS: '0'
  })), {
    sinks: [{ type: 'stdout' }],
    bufferSize: 2000,
    batchSize: 100,
    retentionDays: 0,
    security: { unauthenticatedBurst: { threshold: 50, windowSeconds: 300 }, plainHttpSeconds: 0, impersonationBurst: { threshold: 5, windowSeconds: 60 } }
  })
  t.same(parseSinks('off'), [])
  t.same(parseSinks('postgres, stdout ,file:/var/log/keygate/decisions.jsonl'),
    [{ type: 'postgres' }, { type: 'stdout' }, { type: 'file', path: '/var/log/keygate/decisions.jsonl' }])
  for (const bad of ['kafka', 'file:', 'off,stdout', 'stdout,stdout', ',']) t.throws(() => parseSinks(bad), Error, bad)
})

t.test('an http(s) decision log: the collector URL, headers, token file and timeout; no credential in any problem', async (t) => {
  t.same(parseSinks('postgres,https://collector.example/logs'), [{ type: 'postgres' }, { type: 'http', url: 'https://collector.example/logs' }])
  t.match(auditConfigOf(loadConfig({
    KEYGATE_DECISION_LOG: 'http://127.0.0.1:9000/logs',
    KEYGATE_DECISION_LOG_HEADERS: 'Authorization=Bearer%20abc, X-Scope-OrgID=keygate',
    KEYGATE_DECISION_LOG_TIMEOUT_MS: '2500'
  })), { sinks: [{ type: 'http', url: 'http://127.0.0.1:9000/logs' }], http: { timeoutMs: 2500, headers: { authorization: 'Bearer abc', 'x-scope-orgid': 'keygate' }, tokenFile: null } })
  t.equal(auditConfigOf(loadConfig({ KEYGATE_DECISION_LOG: 'http://c/logs', KEYGATE_DECISION_LOG_TOKEN_FILE: '/run/secrets/token' })).http.tokenFile, '/run/secrets/token')
  t.same(auditConfigOf(loadConfig({})).http, { timeoutMs: 10_000, headers: {}, tokenFile: null })

  const problems = (env: NodeJS.ProcessEnv): string => (t.throws(() => loadConfig(env)) as ConfigError).message
  t.match(problems({ KEYGATE_DECISION_LOG_HEADERS: 'X-A=b' }), /are for an http\(s\):\/\/ decision log/)
  t.match(problems({ KEYGATE_DECISION_LOG: 'http://c/logs', KEYGATE_DECISION_LOG_HEADERS: 'Authorization=Bearer%20x', KEYGATE_DECISION_LOG_TOKEN_FILE: '/t' }), /Authorization is given twice/)
  t.match(problems({ KEYGATE_DECISION_LOG: 'http://u:p@c/logs', KEYGATE_DECISION_LOG_HEADERS: 'Authorization=Bearer%20x' }), /Authorization is given twice/)
  for (const [headers, expected] of [
    ['Authorization', /entry 1: expected name=value/],
    ['Bad Name=x', /entry 1: expected name=value/],
    ['X-A=%zz', /X-A: the value is not valid percent-encoding/],
    ['X-A=a%0D%0AX-B: injected', /X-A: the value holds a line break/],
    ['X-A=1,x-a=2', /x-a is given twice/],
    ['Content-Encoding=identity', /Content-Encoding is set by Keygate/]
  ] as const) {
    const message = problems({ KEYGATE_DECISION_LOG: 'http://c/logs', KEYGATE_DECISION_LOG_HEADERS: headers + ',Authorization=Bearer%20hunter2' })
    t.match(message, expected, headers)
    t.notMatch(message, /hunter2/, 'a header value is never echoed')
  }
  for (const bad of ['http://u:hunter2@c/logs#frag', 'http://u:hunter2@c/logs?key=hunter2,http://u:hunter2@c/logs?key=hunter2', 'http://u:hunter2@[::1/logs', 'syslog://u:hunter2@c']) {
    const message = problems({ KEYGATE_DECISION_LOG: bad })
    t.match(message, /KEYGATE_DECISION_LOG: /, bad)
    t.notMatch(message, /hunter2/, `no credential of ${bad} in the problem`)
  }
  t.match(problems({ KEYGATE_DECISION_LOG: 'http://c/logs', KEYGATE_DECISION_LOG_TIMEOUT_MS: '10' }), /KEYGATE_DECISION_LOG_TIMEOUT_MS="10": must be a whole number of milliseconds from 100/)
})

t.test('a KEYGATE_* name Keygate does not read is warned about, with the closest known one', async (t) => {
  t.same(configWarnings({ KEYGATE_DATABSE_URL: 'postgres://db/k', KEYGATE_PORT: '1', PATH: '/bin' }),
    ['KEYGATE_DATABSE_URL is not a Keygate variable, so it is ignored (did you mean KEYGATE_DATABASE_URL?)'])
  t.same(configWarnings({ KEYGATE_LOGLEVEL: 'x' }), ['KEYGATE_LOGLEVEL is not a Keygate variable, so it is ignored (did you mean KEYGATE_LOG_LEVEL?)'])
  t.same(configWarnings({ KEYGATE_FROBNICATE: '1' }), ['KEYGATE_FROBNICATE is not a Keygate variable, so it is ignored'],
    'no guess when nothing is close')
  t.same(configWarnings({ KEYGATE_TEST_DATABASE_URL: 'postgres://x/y', KEYGATE_FUZZ_SEED: '1' }), [], 'the test suite\'s own variables are known')
})
