// Figure 9. RFC 7662 token introspection (POST /oauth2/introspect) of a
// cached key, by an admin's key, against HTTP forward-auth of the same key on
// the same process (one worker, decision log off), alternating rounds of the
// same run, autocannon with 50 connections. An introspection makes two
// decisions (the caller's, then the token's) and answers a JSON body, and it
// goes through Fastify's routing and body parsing where forward-auth does not,
// so it costs more; no target, the figure says how much.
import { createAccount, issueKey, openStore } from '../dist/index.js'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startKeygate } from './lib/keygate.js'
import { med, report, round, SMALL } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'

const ROUNDS = SMALL ? 3 : 5
const DURATION = SMALL ? 2 : 4
const CONNECTIONS = 50
const PATH = '/api/v1/bot/bot_123/update'

const db = await throwawayDatabase('introspect')
let server
try {
  const fx = await smallFixture(db.url)
  const store = await openStore({ databaseUrl: db.url })
  const admin = await createAccount(store, { email: 'admin@bench.example', role: 'admin' })
  const adminKey = await issueKey(store, { userId: admin.id, name: 'gateway' })
  await store.close()
  server = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1, env: { KEYGATE_DECISION_LOG: 'off' } })
  const introspect = {
    url: `${server.url}/oauth2/introspect`,
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey.token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: fx.key, token_type_hint: 'access_token' }).toString()
  }
  const answer = await fetch(introspect.url, introspect)
  const body = await answer.json()
  if (answer.status !== 200 || body.active !== true || body.sub !== fx.parentId) throw new Error(`the benchmark's token is not introspected as active: ${answer.status} ${JSON.stringify(body)}`)
  const targets = [
    { name: 'forward-auth', server, request: { url: `${server.url}/v1/forward-auth`, headers: forwardHeaders(fx.key, PATH) } },
    { name: 'introspect', server, request: introspect }
  ]
  const samples = await loadRounds(targets, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS })
  const ratio = med(samples.introspect, 'rps') / med(samples['forward-auth'], 'rps')
  report('introspection', [{
    figure: 12,
    name: 'RFC 7662 introspection of a cached key by an admin key (1 process, decision log off)',
    value: round(med(samples.introspect, 'rps')),
    unit: 'req/s',
    p99: med(samples.introspect, 'p99'),
    cpuUsPerRequest: round(med(samples.introspect, 'cpuUsPerRequest'), 1),
    baseline: { name: 'HTTP forward-auth, same key (1 process, decision log off)', value: round(med(samples['forward-auth'], 'rps')), p99: med(samples['forward-auth'], 'p99'), cpuUsPerRequest: round(med(samples['forward-auth'], 'cpuUsPerRequest'), 1) },
    ratio: round(ratio, 2)
  }], { rounds: ROUNDS, durationSeconds: DURATION, connections: CONNECTIONS, samples })
} finally {
  await server?.stop()
  await db.drop()
}
