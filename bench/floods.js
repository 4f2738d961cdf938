// Figure 5. Floods of bad credentials, counted in store queries per request:
// forged secret keys (wrong checksum) and forged session tokens must cost none;
// well-formed keys that do not exist cost at most one query per distinct key
// (the negative cache). Embedded authorize() over a store whose every query is
// counted; the baseline is the same authorizer deciding a cached valid key.
import { randomBytes } from 'node:crypto'
import { createAuthorizer, generateSecretKey, openDatabase, Sessions, Store } from '../dist/index.js'
import { throwawayDatabase } from './lib/db.js'
import { smallFixture } from './lib/fixture.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'

const ROUNDS = SMALL ? 3 : 5
const PER_ROUND = SMALL ? 5_000 : 20_000
const DISTINCT_UNKNOWN = SMALL ? 500 : 2_000 // per round; each presented PER_ROUND / DISTINCT_UNKNOWN times
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** `sk-` and 49 base62 characters: the shape of a key, but (almost surely) not its checksum. */
function forgedKey () {
  let body = 'sk-'
  for (const byte of randomBytes(49)) body += BASE62[byte % 62]
  return body
}

/**
 * A session token under Keygate's real header (its active `kid`), signed by
 * nobody: it gets as far as the signature check. (A forged `kid` makes the key
 * set be re-read at most once a second: a query per second, not per request.)
 */
function forgedToken (header) {
  const payload = Buffer.from(JSON.stringify({ sub: 'usr_' + randomBytes(10).toString('hex'), exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url')
  return `${header}.${payload}.${randomBytes(64).toString('base64url')}`
}

const db = await throwawayDatabase('floods')
try {
  const fx = await smallFixture(db.url)
  const database = await openDatabase({ databaseUrl: db.url })
  let queries = 0
  const counted = {
    driver: database.driver,
    query: async (sql, params) => { queries++; return await database.query(sql, params) },
    exec: async (sql) => { queries++; await database.exec(sql) },
    transaction: async (fn) => { queries++; return await database.transaction(fn) },
    listen: async (channel, onPayload) => await database.listen(channel, onPayload),
    close: async () => {}
  }
  const sessions = new Sessions({ db: counted, secret: fx.secret })
  // The failed-authentication throttle off: this figure is what each bad credential costs when none is throttled.
  const authorizer = await createAuthorizer({ store: new Store(counted), sessions, throttle: false })
  const decide = (token) => authorizer.authorize({ method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${token}` }, scheme: 'https' })
  // Warm: the valid key and the signing keys are cached, like on a server that has been up for a while.
  for (const token of [fx.key, fx.session]) if (!(await decide(token)).allow) throw new Error('fixture credential refused')

  const realHeader = fx.session.split('.')[0]
  const flood = async (tokens, expectStatus) => {
    queries = 0
    const cpu0 = process.cpuUsage()
    const start = performance.now()
    for (const token of tokens) {
      const d = await decide(token)
      if (d.status !== expectStatus) throw new Error(`expected ${expectStatus}, got ${d.status} ${d.code}`)
    }
    const cpu = process.cpuUsage(cpu0)
    return { rate: tokens.length / ((cpu.user + cpu.system) / 1e6), wallRate: tokens.length / ((performance.now() - start) / 1000), queries, requests: tokens.length }
  }
  const variants = [
    { name: 'valid', tokens: () => Array(PER_ROUND).fill(fx.key), status: 200 },
    { name: 'forged-key', tokens: () => Array.from({ length: PER_ROUND }, forgedKey), status: 401 },
    { name: 'forged-token', tokens: () => Array.from({ length: PER_ROUND }, () => forgedToken(realHeader)), status: 401 },
    {
      name: 'unknown-key',
      tokens: () => {
        const distinct = Array.from({ length: DISTINCT_UNKNOWN }, () => generateSecretKey().key)
        return Array.from({ length: PER_ROUND }, (_, i) => distinct[i % DISTINCT_UNKNOWN])
      },
      status: 401
    }
  ]
  const samples = await alternate(variants, ROUNDS, async (v, r) => {
    const s = await flood(v.tokens(), v.status)
    log(`round ${r} ${v.name.padEnd(14)} ${String(Math.round(s.rate)).padStart(8)}/CPU-s  ${s.queries} store queries for ${s.requests} requests`)
    return s
  })
  const total = (name) => samples[name].reduce((sum, s) => sum + s.queries, 0)
  const requests = (name) => samples[name].reduce((sum, s) => sum + s.requests, 0)
  const baseline = { name: 'cached valid key, same authorizer', value: round(med(samples.valid, 'rate')), unit: 'decisions/CPU-s' }
  const perCpuSecond = (name) => `${round(med(samples[name], 'rate')).toLocaleString('en')} decisions/CPU-s (ratio: against the baseline)`
  const row = (variant, name, value, unit, target, met) => ({
    figure: 5,
    name,
    value,
    unit,
    throughput: perCpuSecond(variant),
    baseline,
    ratio: round(med(samples[variant], 'rate') / baseline.value, 2),
    target,
    met
  })
  const rows = [
    row('forged-key', `forged secret keys (bad checksum), ${requests('forged-key').toLocaleString('en')} requests`,
      total('forged-key') / requests('forged-key'), 'queries/request', '0 queries', total('forged-key') === 0),
    row('forged-token', `forged session tokens (Keygate's header and kid, no valid signature), ${requests('forged-token').toLocaleString('en')} requests`,
      total('forged-token') / requests('forged-token'), 'queries/request', '0 queries', total('forged-token') === 0),
    row('unknown-key', `well-formed unknown keys: ${DISTINCT_UNKNOWN.toLocaleString('en')} distinct per round, each sent ${PER_ROUND / DISTINCT_UNKNOWN} times`,
      round(total('unknown-key') / (ROUNDS * DISTINCT_UNKNOWN), 3), 'queries/distinct key', '≤ 1 query per key', total('unknown-key') <= ROUNDS * DISTINCT_UNKNOWN)
  ]
  await authorizer.close()
  await sessions.close()
  await database.close()
  report('floods', rows, { rounds: ROUNDS, perRound: PER_ROUND, distinctUnknownPerRound: DISTINCT_UNKNOWN, samples })
} finally {
  await db.drop()
}
