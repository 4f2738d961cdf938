// Figure 14. LISTEN fan-out: one NOTIFY reaching 50 listening connections
// (50 instances, simulated as connections), latency from just before the
// NOTIFY to each listener's receipt, p50 and p99, against the same with one
// listener, alternating round by round. Notifications are sent one at a time
// (the next once every listener has the last), with a payload the size of
// Keygate's change notifications.
import { loadavg } from 'node:os'
import pg from 'pg'
import { throwawayDatabase } from './lib/db.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'
import { percentile } from './lib/stats.js'

const ROUNDS = SMALL ? 3 : 5
const PER_ROUND = SMALL ? 100 : 400
const CHANNEL = 'keygate_bench_fanout'

const db = await throwawayDatabase('fanout')
const clients = []
const connect = async () => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  clients.push(client)
  return client
}
try {
  const sender = await connect()
  const listeners = []
  for (let i = 0; i < 50; i++) {
    const client = await connect()
    await client.query(`LISTEN ${CHANNEL}`)
    listeners.push(client)
  }
  let waiting = null
  const received = (n) => () => {
    const at = process.hrtime.bigint()
    waiting?.arrived(n, at)
  }
  listeners.forEach((client, n) => client.on('notification', received(n)))

  const targets = [{ name: '1 listener', count: 1 }, { name: '50 listeners', count: 50 }]
  const once = async (count, seq) => {
    const arrivals = []
    const done = new Promise((resolve) => {
      waiting = {
        arrived: (n, at) => {
          if (n >= count) return
          arrivals.push(at)
          if (arrivals.length === count) resolve()
        }
      }
    })
    const start = process.hrtime.bigint()
    await sender.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ kind: 'key', id: `key_${String(seq).padStart(20, '0')}`, lsn: '0/16B3748' })])
    await done
    return arrivals.map((at) => Number(at - start) / 1e6)
  }
  // Listeners beyond `count` still receive (PostgreSQL sends to all 50): the one-listener target unlistens the rest.
  const samples = await alternate(targets, ROUNDS, async (target) => {
    for (const [n, client] of listeners.entries()) await client.query(n < target.count ? `LISTEN ${CHANNEL}` : `UNLISTEN ${CHANNEL}`)
    const latencies = []
    for (let i = 0; i < PER_ROUND; i++) latencies.push(...await once(target.count, i))
    latencies.sort((a, b) => a - b)
    const sample = { p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
    log(`${target.name}: p50 ${round(sample.p50, 2)} ms, p99 ${round(sample.p99, 2)} ms`)
    return sample
  })
  const base = med(samples['1 listener'], 'p99')
  report('listen-fanout', targets.map((target) => ({
    figure: 14,
    name: `NOTIFY to ${target.name}, p99 latency`,
    value: round(med(samples[target.name], 'p99'), 2),
    unit: 'ms',
    baseline: { name: '1 listener', value: round(base, 2) },
    ratio: round(med(samples[target.name], 'p99') / base, 2),
    note: `p50 ${round(med(samples[target.name], 'p50'), 2)} ms; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
  })), { samples, perRound: PER_ROUND })
} finally {
  for (const client of clients) await client.end().catch(() => {})
  await db.drop()
}
