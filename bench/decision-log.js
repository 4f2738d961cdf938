// Figure 9. What the default decision log costs: forward-auth with a cached key
// on `keygate serve` as a newcomer starts it (PostgreSQL store, PostgreSQL
// decision log, default workers and log level), against the same server with
// KEYGATE_DECISION_LOG=off and a Fastify hello world, alternating rounds.
// CPU per decision is split between Keygate's processes and the PostgreSQL
// backends of its database (the WAL writer and checkpointer are not counted).
// Two more servers: the defaults with the spool off (what the spool costs),
// and with KEYGATE_DECISION_LOG_SPOOL_SYNC_MS=0 (a disk flush per group before
// its answers: what the machine-crash guarantee would cost). Last, one long
// run of allowed reads (the kind that may be sampled) on the defaults: every
// answered request must be in the log, none sampled or dropped.
import { availableParallelism, loadavg } from 'node:os'
import pg from 'pg'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { measure } from './lib/rounds.js'
import { startHello, startKeygate } from './lib/keygate.js'
import { backendCpu, backendCpuSince } from './lib/proc.js'
import { med, pairedRatio, report, round, SMALL } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'

const ROUNDS = SMALL ? 3 : 8
const DURATION = SMALL ? 3 : 6
const CONNECTIONS = 50
const cores = availableParallelism()

const db = await throwawayDatabase('dlog')
const servers = []
const client = new pg.Client({ connectionString: db.url })
try {
  const fx = await smallFixture(db.url)
  const defaults = { logLevel: 'info' }
  const off = await startKeygate({ databaseUrl: db.url, secret: fx.secret, ...defaults, env: { KEYGATE_DECISION_LOG: 'off' } })
  servers.push(off)
  const full = await startKeygate({ databaseUrl: db.url, secret: fx.secret, ...defaults })
  servers.push(full)
  const noSpool = await startKeygate({ databaseUrl: db.url, secret: fx.secret, ...defaults, env: { KEYGATE_DECISION_LOG_SPOOL: 'off' } })
  servers.push(noSpool)
  const syncEach = await startKeygate({ databaseUrl: db.url, secret: fx.secret, ...defaults, env: { KEYGATE_DECISION_LOG_SPOOL_SYNC_MS: '0' } })
  servers.push(syncEach)
  const hello = await startHello({ workers: cores })
  servers.push(hello)
  await client.connect()

  const rows = async () => Number((await client.query('SELECT count(*) AS n FROM keygate_decisions')).rows[0].n)

  const headers = forwardHeaders(fx.key)
  const targets = [
    { name: 'hello', server: hello },
    { name: 'log off', server: off },
    { name: 'default', server: full },
    { name: 'spool off', server: noSpool },
    { name: 'sync each group', server: syncEach }
  ]
  for (const target of targets) target.request = { url: `${target.server.url}/v1/forward-auth`, headers }
  let pgBefore = new Map()
  let rowsBefore = 0
  const samples = await loadRounds(targets, {
    rounds: ROUNDS,
    duration: DURATION,
    connections: CONNECTIONS,
    async before () { pgBefore = await backendCpu(client); rowsBefore = await rows() },
    async after (target, sample) {
      const requests = sample.requests
      sample.pgCpuUsPerRequest = await backendCpuSince(client, pgBefore) * 1000 / requests
      sample.rowsPerRequest = (await rows() - rowsBefore) / requests
    }
  })
  const rps = (name) => med(samples[name], 'rps')
  // Each round's ratio (the two servers measured minutes apart at most), then their median: the machine's speed drifts between rounds.
  const ratio = (name, baseline) => pairedRatio(samples[name], samples[baseline])
  const ofMedians = (name, baseline) => `ratio of the medians ${round(rps(name) / rps(baseline), 2)}`
  const p99 = (name) => med(samples[name], 'p99')
  const cpu = (name) => round(med(samples[name], 'cpuUsPerRequest'), 1)
  const pgCpu = (name) => round(med(samples[name], 'pgCpuUsPerRequest'), 1)
  const line = (name) => ({ value: round(rps(name)), unit: 'req/s', p99: p99(name), cpuUsPerRequest: cpu(name), note: `PostgreSQL CPU ${pgCpu(name)} µs/req` })
  const result = [
    {
      figure: 9,
      name: `forward-auth, cached key, defaults (${cores} workers, log level info, decision log to PostgreSQL) vs hello world`,
      ...line('default'),
      baseline: { name: `Fastify hello world (${cores} workers)`, value: round(rps('hello')), p99: p99('hello'), cpuUsPerRequest: cpu('hello') },
      ratio: round(ratio('default', 'hello'), 2),
      target: '≥ 0.6×',
      met: ratio('default', 'hello') >= 0.6,
      note: `median of ${ROUNDS} rounds' ratios; ${ofMedians('default', 'hello')}`
    },
    {
      figure: 9,
      name: 'forward-auth, cached key, defaults vs the same server with KEYGATE_DECISION_LOG=off',
      ...line('default'),
      baseline: { name: 'KEYGATE_DECISION_LOG=off', value: round(rps('log off')), p99: p99('log off'), cpuUsPerRequest: cpu('log off'), note: `PostgreSQL CPU ${pgCpu('log off')} µs/req` },
      ratio: round(ratio('default', 'log off'), 2),
      target: '≥ 0.8×, p99 ≤ 2× its p99',
      met: ratio('default', 'log off') >= 0.8 && p99('default') <= 2 * Math.max(1, p99('log off')),
      note: `median of ${ROUNDS} rounds' ratios; ${ofMedians('default', 'log off')}; PostgreSQL CPU ${pgCpu('default')} µs/req (log off: ${pgCpu('log off')}); decision-log rows per answered request ${round(med(samples.default, 'rowsPerRequest'), 3)}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
    }
  ]
  result.push({
    figure: 9,
    name: 'forward-auth, cached key, defaults but KEYGATE_DECISION_LOG_SPOOL=off (no crash guarantee) vs log off: what the spool costs',
    ...line('spool off'),
    baseline: { name: 'KEYGATE_DECISION_LOG=off', value: round(rps('log off')), p99: p99('log off'), cpuUsPerRequest: cpu('log off') },
    ratio: round(ratio('spool off', 'log off'), 2),
    note: `PostgreSQL CPU ${pgCpu('spool off')} µs/req; median of the rounds' ratios; ${ofMedians('spool off', 'log off')}; not a target`
  })
  result.push({
    figure: 9,
    name: 'forward-auth, cached key, defaults but KEYGATE_DECISION_LOG_SPOOL_SYNC_MS=0 (fdatasync before each group\'s answers) vs log off: what the machine-crash guarantee would cost',
    ...line('sync each group'),
    baseline: { name: 'KEYGATE_DECISION_LOG=off', value: round(rps('log off')), p99: p99('log off'), cpuUsPerRequest: cpu('log off') },
    ratio: round(ratio('sync each group', 'log off'), 2),
    note: `PostgreSQL CPU ${pgCpu('sync each group')} µs/req; median of the rounds' ratios; ${ofMedians('sync each group', 'log off')}; not a target`
  })

  // A long run of allowed reads, the droppable kind, against the defaults: the log keeps up or it sheds.
  const longSeconds = SMALL ? 10 : 60
  const readTarget = { name: 'default, reads', server: full, request: { url: `${full.url}/v1/forward-auth`, headers: forwardHeaders(fx.key, '/api/v1/bot/list', { 'x-forwarded-method': 'GET' }) } }
  // The log's count once nothing more arrives for longer than its flush interval (1 s).
  const settled = async () => {
    let last = await rows()
    for (let waited = 0; waited < 30_000; waited += 1_500) {
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      const now = await rows()
      if (now === last) return now
      last = now
    }
    return last
  }
  const rowsAtStart = await settled()
  const long = await measure(readTarget, { connections: CONNECTIONS, duration: longSeconds })
  const logged = await settled() - rowsAtStart
  // autocannon counts the answers it read; requests still in flight when it stopped were answered (and logged) too.
  const inFlight = CONNECTIONS
  result.push({
    figure: 9,
    name: `${longSeconds} s of allowed reads (GET, the kind that may be sampled) at full load on the defaults: entries in the log against requests answered`,
    value: logged,
    unit: 'entries',
    baseline: { name: 'requests answered', value: long.requests },
    ratio: round(logged / long.requests, 4),
    target: '0 sampled or dropped (ratio 1)',
    met: logged >= long.requests && logged - long.requests <= inFlight,
    note: `${round(long.rps)} req/s, p99 ${long.p99} ms; ${Math.max(0, long.requests - logged)} missing; ${Math.max(0, logged - long.requests)} more than counted (at most ${inFlight} in flight at the end)`
  })
  report('decision-log', result, { rounds: ROUNDS, durationSeconds: DURATION, connections: CONNECTIONS, cores, samples })
} finally {
  await client.end().catch(() => {})
  for (const server of servers) await server.stop()
  await db.drop()
}
