// Figure: HTTP forward-auth with a rate limit and quota on the key against the
// same account's key without limits, same server, same autocannon settings,
// alternating rounds (the ratio: the median of each round's). The limits are set high enough that every request is
// admitted: what is measured is the counting (at every request, memo hits
// included) and the RateLimit headers; the policy input repeats (no raw
// counts), so the decision memo answers both keys alike.
import { randomBytes } from 'node:crypto'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startKeygate } from './lib/keygate.js'
import { med, pairedRatio, report, round, SMALL } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'
import { issueKey, openStore, setKeyLimits } from '../dist/index.js'

const ROUNDS = SMALL ? 4 : 8
const DURATION = SMALL ? 2 : 4
const CONNECTIONS = 50

const db = await throwawayDatabase('limits')
const servers = []
try {
  const fx = await smallFixture(db.url, { secret: randomBytes(32) })
  const store = await openStore({ databaseUrl: db.url })
  let limited
  try {
    limited = await issueKey(store, { userId: fx.parentId, name: 'limited' })
    await setKeyLimits(store, limited.id, { rate: { limit: 1_000_000_000, windowSeconds: 1 }, quota: { limit: 1_000_000_000, period: 'month' } })
  } finally {
    await store.close()
  }
  const kg = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1, env: { KEYGATE_DECISION_LOG: 'off' } })
  servers.push(kg)
  const targets = [
    { name: 'unlimited', server: kg, headers: forwardHeaders(fx.key) },
    { name: 'limited', server: kg, headers: forwardHeaders(limited.token) }
  ]
  for (const target of targets) target.request = { url: `${target.server.url}/v1/forward-auth`, headers: target.headers }
  const samples = await loadRounds(targets, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS })
  const rps = med(samples.limited, 'rps')
  const baseRps = med(samples.unlimited, 'rps')
  const ratio = pairedRatio(samples.limited, samples.unlimited)
  report('limits', [{
    figure: 11,
    name: 'forward-auth, cached key with a rate limit and a quota (1 process, decision log off)',
    value: round(rps),
    unit: 'req/s',
    p99: med(samples.limited, 'p99'),
    cpuUsPerRequest: round(med(samples.limited, 'cpuUsPerRequest'), 1),
    baseline: { name: 'the same account\'s key without limits, same server', value: round(baseRps), p99: med(samples.unlimited, 'p99'), cpuUsPerRequest: round(med(samples.unlimited, 'cpuUsPerRequest'), 1) },
    ratio: round(ratio, 2),
    target: '≥ 0.9×',
    met: ratio >= 0.9,
    note: `the ratio is the median of each round's (the two keys back to back, in turns); the ratio of the medians: ${round(rps / baseRps, 2)}×`
  }], { rounds: ROUNDS, durationSeconds: DURATION, connections: CONNECTIONS, samples })
} finally {
  for (const server of servers) await server.stop()
  await db.drop()
}
