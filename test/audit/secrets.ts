/**
 * Issues keys and session tokens, runs traffic of every kind through a real
 * server (forward-auth, the decision API, explain, the management API,
 * impersonation, revoked and rolled keys, a key pasted into a path), then
 * searches everything Keygate wrote — the decision table, the stdout sink,
 * the log file, the JSON log (pino, at trace level), stderr — for every
 * credential, the signing secret and every private signing key.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { bootstrap } from '../../src/manage/index.js'
import { loadConfig, sessionSettingsOf } from '../../src/config/index.js'
import { start } from '../../src/server/serve.js'
import { parseSigningSecret } from '../../src/sessions/secret.js'
import { open as openSealed } from '../../src/sessions/lib/seal.js'
import { openStore, type Store } from '../../src/store/index.js'
import { createTestDatabase, testDatabases } from '../helpers/databases.js'
import { testPolicy } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

const NOTICE = /Keygate created the first admin account[^\n]*\n {2}user id: usr_\w+\n {2}key: {5}(sk-\w+)\nThis key is shown once: store it now\.\n/

for (const driver of testDatabases()) {
  t.test(`no secret in anything Keygate wrote (${driver.name})`, async (t) => {
    await testPolicy()
    const dir = tempDir(t, 'secrets')
    const logFile = join(dir, 'decisions.jsonl')
    const env: Record<string, string> = { KEYGATE_PORT: '0', KEYGATE_LOG_LEVEL: 'trace' }
    let adminToken: string | undefined
    let databaseUrl: string | undefined
    if (driver.name === 'pg') {
      databaseUrl = await createTestDatabase(t)
      env.KEYGATE_DATABASE_URL = databaseUrl
      env.KEYGATE_SIGNING_SECRET = randomBytes(32).toString('base64')
      const store = await openStore({ databaseUrl })
      adminToken = (await bootstrap(store, { email: 'admin@example.com' })).token
      await store.close()
    } else {
      env.KEYGATE_DATA_DIR = join(dir, 'data')
    }
    // Whatever the process writes to stderr (warnings, console.error, a stray debug line) is searched too.
    let stderr = ''
    const writeStderr = process.stderr.write
    process.stderr.write = function (chunk: string | Uint8Array, ...rest: unknown[]) {
      stderr += String(chunk)
      return (writeStderr as (...args: unknown[]) => boolean).call(process.stderr, chunk, ...rest)
    } as typeof process.stderr.write
    t.teardown(() => { process.stderr.write = writeStderr })
    const config = loadConfig(env)
    const sessionSettings = await sessionSettingsOf(config)
    let stdout = ''
    const server = await start({
      ...config,
      sessions: sessionSettings,
      audit: { sinks: [{ type: 'postgres' }, { type: 'stdout' }, { type: 'file', path: logFile }], flushIntervalMs: 50 }
    }, { stdout: { write: (chunk: string) => { stdout += chunk } } })
    let closed = false
    t.teardown(async () => { if (!closed) await server.close() })

    // The embedded store's first start prints its admin key once, by design: that block is not a leak.
    if (adminToken === undefined) {
      const notice = NOTICE.exec(stdout)
      t.ok(notice, 'the bootstrap notice')
      adminToken = notice?.[1] as string
      stdout = stdout.replace(NOTICE, '')
    }
    const secrets: string[] = [adminToken]
    const call = async (method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<any> => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      const text = await res.text()
      return { status: res.status, body: text === '' ? null : JSON.parse(text), headers: res.headers }
    }

    // Accounts and keys through the API.
    const parent = (await call('POST', '/admin/v1/user/create', adminToken, { email: 'parent@example.com' })).body.id as string
    const parentKey = (await call('POST', `/admin/v1/user/${parent}/token/create`, adminToken, {})).body
    secrets.push(parentKey.token)
    const child = (await call('POST', '/api/v1/partner/user/create', parentKey.token, { email: 'child@example.com' })).body.id as string
    const childKey = (await call('POST', `/api/v1/partner/user/${child}/token/create`, parentKey.token, {})).body
    secrets.push(childKey.token)
    const ownKey = (await call('POST', '/api/v1/token/create', parentKey.token, { name: 'ci', scopes: ['bot:read'] })).body
    secrets.push(ownKey.token)
    const session = (await call('POST', '/api/v1/session/create', parentKey.token, {})).body
    secrets.push(session.token)
    const childSession = (await call('POST', `/api/v1/partner/user/${child}/session/create`, parentKey.token, { config: { allowedRoutes: ['bot/**'] } })).body
    secrets.push(childSession.token)
    const rolled = (await call('POST', `/api/v1/token/${ownKey.id}/roll`, parentKey.token, { graceSeconds: 0 })).body
    secrets.push(rolled.token)
    const doomed = (await call('POST', '/api/v1/token/create', parentKey.token, {})).body
    secrets.push(doomed.token)
    t.equal((await call('POST', `/api/v1/token/${doomed.id}/delete`, parentKey.token, {})).status, 200)
    t.equal(secrets.length, 8)
    t.ok(secrets.every((s) => typeof s === 'string' && s.length > 40), 'every secret was issued')

    // Traffic.
    const forward = async (token: string | null, uri: string, extra: Record<string, string> = {}): Promise<number> =>
      (await call('GET', '/v1/forward-auth', token, undefined, { 'x-original-uri': uri, ...extra })).status
    for (const token of secrets) {
      await forward(token, '/api/v1/bot/list')
      await forward(token, '/api/v1/dataset/create')
      await forward(token, '/api/v1/bot/list', { 'x-runas-user-id': child })
      await forward(token, '/api/v1/bot/list', { 'x-runas-child-user-email': 'nobody@example.com' })
      await forward(token, `/api/v1/bot/${token}/fetch?token=${token}`)
      await call('POST', '/v1/authorize', null, { method: 'GET', path: `/api/v1/bot/list?key=${token}`, headers: { authorization: `Bearer ${token}`, cookie: `s=${token}` }, client: { address: '192.0.2.1' } })
      await call('POST', '/v1/authorize?explain=true', adminToken, { method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${token}`, 'x-runas-user-id': child } })
      await call('GET', `/api/v1/token/list?cursor=${token}`, token)
      await call('GET', '/api/v1/bot/list', null, undefined, { authorization: `Basic ${Buffer.from(`u:${token}`).toString('base64')}` })
    }
    t.equal(await forward(doomed.token, '/api/v1/bot/list'), 401, 'the revoked key is refused')
    t.equal(await forward(ownKey.token, '/api/v1/bot/list'), 401, 'the rolled-out key is refused')
    t.equal(await forward(parentKey.token, '/api/v1/bot/list', { 'x-runas-user-id': child }), 200, 'an impersonation')

    await server.close()
    closed = true

    // Everything written.
    const check = await openStore(databaseUrl === undefined ? { dataDir: env.KEYGATE_DATA_DIR } : { databaseUrl })
    t.teardown(async () => { await check.close() })
    // The signing secret and each private signing key, as any encoding would show them.
    const signingSecret = parseSigningSecret(databaseUrl === undefined ? readFileSync(join(dir, 'signing.key'), 'utf8') : env.KEYGATE_SIGNING_SECRET as string)
    const { rows: sealed } = await check.database.query<{ kid: string; private_sealed: Buffer }>(
      'SELECT kid, private_sealed FROM keygate_signing_keys WHERE private_sealed IS NOT NULL')
    t.ok(sealed.length > 0, 'a private signing key to look for')
    const material = [signingSecret, ...sealed.flatMap(({ kid, private_sealed: bytes }) => [openSealed(signingSecret, kid, Buffer.from(bytes)), Buffer.from(bytes)])]
    for (const bytes of material) secrets.push(bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'))
    const tables = await dump(check)
    const file = readFileSync(logFile, 'utf8')
    t.ok(tables.length > 10_000, 'the decision table was written')
    t.ok(file.split('\n').length > 50, 'the log file was written')
    t.ok(stdout.includes('"decision_id"'), 'the stdout sink wrote entries')
    t.ok(stdout.includes('"msg":"incoming request"'), 'the JSON log (pino) wrote request lines')
    t.ok(tables.includes('revoked_key_presented') && tables.includes('expired_key_presented'), 'the leaked-key events are there')
    t.ok(file.includes(`"key_id":"${doomed.id}"`), 'key ids are there')
    t.ok(file.includes('/api/v1/bot/[masked]/fetch'), 'a key pasted into a path is masked where it stood')
    for (const [where, text] of [['decision table', tables], ['stdout (sink and JSON log)', stdout], ['stderr', stderr], ['log file', file]] as const) {
      for (const secret of secrets) {
        const tail = secret.slice(-20)
        t.notOk(text.includes(secret), `${where}: no ${secret.slice(0, 9)}…`)
        t.notOk(text.includes(tail), `${where}: not even its last 20 characters`)
      }
      t.notOk(/sk-[0-9A-Za-z]{16,}/.test(text), `${where}: nothing that looks like a secret key`)
      t.notOk(/eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{10,}/.test(text), `${where}: nothing that looks like a JWT`)
    }
  })
}

/** Every row of the audit tables (and the keys table, which keeps hashes only), as text. */
async function dump (store: Store): Promise<string> {
  let text = ''
  for (const table of ['keygate_decisions', 'keygate_key_usage_daily', 'keygate_keys', 'keygate_sessions']) {
    const { rows } = await store.database.query(`SELECT t::text AS row FROM ${table} AS t`)
    text += rows.map((r) => (r as { row: string }).row).join('\n') + '\n'
  }
  return text
}
