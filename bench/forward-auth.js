// Figure 1. HTTP forward-auth with a cached credential against a bare Fastify
// "hello world" on the same machine, same autocannon settings, alternating rounds.
// Keygate runs with its decision log off (KEYGATE_DECISION_LOG=off), like the
// baseline, which logs nothing; one more row per mode has the default decision
// log (every decision a row in PostgreSQL), whose cost is the sink's.
//
// Processes: this script (orchestration), one autocannon process per run (the
// load generator), the servers under test (each its own process tree), and
// PostgreSQL. Nothing is pinned: on a 2-core machine the load generator and
// the server share the cores, as they would for any server measured this way.
import { availableParallelism } from 'node:os'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startHello, startKeygate } from './lib/keygate.js'
import { startServer } from './lib/proc.js'
import { med, report, round, SMALL } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'

const ROUNDS = SMALL ? 3 : 5
const DURATION = SMALL ? 2 : 4
const CONNECTIONS = 50
const cores = availableParallelism()

const db = await throwawayDatabase('fwd')
const servers = []
try {
  const fx = await smallFixture(db.url)
  const off = { KEYGATE_DECISION_LOG: 'off' }
  const kg1 = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1, env: off })
  servers.push(kg1)
  const kgN = await startKeygate({ databaseUrl: db.url, secret: fx.secret, env: off })
  servers.push(kgN)
  const kg1log = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1 })
  servers.push(kg1log)
  const kgNlog = await startKeygate({ databaseUrl: db.url, secret: fx.secret })
  servers.push(kgNlog)
  const canned = await startServer(process.execPath, ['bench/lib/canned.js'], { label: "Keygate's app with a canned decision" })
  servers.push(canned)
  const hello1 = await startHello({ workers: 1 })
  servers.push(hello1)
  const helloN = await startHello({ workers: cores })
  servers.push(helloN)

  const credentials = {
    key: forwardHeaders(fx.key),
    impersonation: forwardHeaders(fx.key, undefined, { 'x-runas-user-id': fx.childId }),
    session: forwardHeaders(fx.session)
  }
  const targets = []
  for (const [mode, hello, kg, kgLog] of [['1 process', hello1, kg1, kg1log], [`${cores} workers`, helloN, kgN, kgNlog]]) {
    targets.push({ name: `hello/${mode}`, mode, server: hello, headers: credentials.key })
    for (const [credential, headers] of Object.entries(credentials)) {
      targets.push({ name: `${credential}/${mode}`, mode, credential, server: kg, headers })
    }
    targets.push({ name: `key+log/${mode}`, mode, credential: 'key', log: true, server: kgLog, headers: credentials.key })
    if (mode === '1 process') targets.push({ name: `canned/${mode}`, mode, canned: true, server: canned, headers: credentials.key })
  }

  for (const target of targets) target.request = { url: `${target.server.url}/v1/forward-auth`, headers: target.headers }
  const samples = await loadRounds(targets, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS })

  const rows = []
  for (const target of targets.filter((t) => t.credential !== undefined || t.canned)) {
    const mine = samples[target.name]
    const base = samples[`hello/${target.mode}`]
    const rps = med(mine, 'rps')
    const baseRps = med(base, 'rps')
    rows.push({
      figure: 1,
      name: target.canned
        ? `Keygate's HTTP layer alone: the same app and route answering a fixed allow, no credential or decision work (${target.mode})`
        : `forward-auth, ${target.credential === 'key' ? 'cached key' : target.credential === 'impersonation' ? 'cached key + X-RunAs-User-ID' : 'session token'} (${target.mode}${target.log ? ', decision log to PostgreSQL (default)' : ', decision log off'})`,
      value: round(rps),
      unit: 'req/s',
      p99: med(mine, 'p99'),
      cpuUsPerRequest: round(med(mine, 'cpuUsPerRequest'), 1),
      baseline: { name: `Fastify hello world (${target.mode})`, value: round(baseRps), p99: med(base, 'p99'), cpuUsPerRequest: round(med(base, 'cpuUsPerRequest'), 1) },
      ratio: round(rps / baseRps, 2),
      ...(target.canned
        ? { note: 'decomposition of the gap, not a target' }
        : target.log
          ? { note: 'the cost of the default decision-log sink; the baseline writes nothing (the target applies with the log off, like it)' }
          : { target: '≥ 0.8×', met: rps / baseRps >= 0.8 })
    })
  }
  report('forward-auth', rows, { rounds: ROUNDS, durationSeconds: DURATION, connections: CONNECTIONS, cores, samples })
} finally {
  for (const server of servers) await server.stop()
  await db.drop()
}
