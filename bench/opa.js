// Figure 2. Keygate's forward-auth (credential resolution and the decision)
// against OPA itself: `opa run --server` (the pinned CLI) evaluating the same
// bundle's Rego with the input Keygate builds for the same request, over its
// REST API. Same autocannon settings, alternating rounds, both on 127.0.0.1.
// Both use every core by default (OPA: GOMAXPROCS; Keygate: KEYGATE_WORKERS);
// the one-core rows pin neither to a CPU but limit both to one process/thread pool.
// OPA logs no decisions unless configured to; Keygate runs with its decision
// log off alike, and once more with its default (every decision a PostgreSQL row).
import { availableParallelism } from 'node:os'
import { createAuthorizer } from '../dist/index.js'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startKeygate } from './lib/keygate.js'
import { regoBundle, startOpa } from './lib/opa.js'
import { med, report, round, SMALL } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'

const ROUNDS = SMALL ? 3 : 5
const DURATION = SMALL ? 2 : 4
const CONNECTIONS = 50
const PATH = '/api/v1/bot/bot_123/update'
const cores = availableParallelism()

/** The same JSON with object keys in order, to compare two decisions. */
function sorted (value) {
  if (Array.isArray(value)) return value.map(sorted)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]))
}

const db = await throwawayDatabase('opa')
const rego = regoBundle()
const servers = []
try {
  const fx = await smallFixture(db.url)
  // The exact input Keygate's policy sees for this request, as OPA's input.
  let input = null
  const recorder = await createAuthorizer({ databaseUrl: db.url, onDecision: (record) => { input = record.input } })
  const decision = await recorder.authorize({ method: 'POST', path: PATH, headers: { authorization: `Bearer ${fx.key}` } })
  await recorder.close()
  if (!decision.allow || input === null) throw new Error(`fixture request refused: ${decision.code}`)

  const opaAll = await startOpa({ bundle: rego.file })
  servers.push(opaAll)
  const opaOne = await startOpa({ bundle: rego.file, cores: 1 })
  servers.push(opaOne)
  const off = { KEYGATE_DECISION_LOG: 'off' }
  const kgAll = await startKeygate({ databaseUrl: db.url, secret: fx.secret, env: off })
  servers.push(kgAll)
  const kgOne = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1, env: off })
  servers.push(kgOne)
  const kgAllLog = await startKeygate({ databaseUrl: db.url, secret: fx.secret })
  servers.push(kgAllLog)

  // OPA must agree with Keygate on this input.
  const answer = await (await fetch(`${opaAll.url}/v1/data/keygate/authz/decision`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) })).json()
  const { decisionId: _id, credential: _c, policyRevision: _r, ...keygateDecision } = decision
  if (JSON.stringify(sorted(answer.result)) !== JSON.stringify(sorted(keygateDecision))) {
    throw new Error(`OPA decided otherwise: ${JSON.stringify(answer)} vs ${JSON.stringify(keygateDecision)}`)
  }

  const opaRequest = (server) => ({ url: `${server.url}/v1/data/keygate/authz/decision`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) })
  const keygateRequest = (server) => ({ url: `${server.url}/v1/forward-auth`, headers: forwardHeaders(fx.key, PATH) })
  const targets = [
    { name: `opa/${cores} cores`, mode: `${cores} cores`, server: opaAll, request: opaRequest(opaAll) },
    { name: `keygate/${cores} cores`, mode: `${cores} cores`, server: kgAll, request: keygateRequest(kgAll) },
    { name: `keygate+log/${cores} cores`, mode: `${cores} cores`, server: kgAllLog, request: keygateRequest(kgAllLog) },
    { name: 'opa/1 core', mode: '1 core', server: opaOne, request: opaRequest(opaOne) },
    { name: 'keygate/1 core', mode: '1 core', server: kgOne, request: keygateRequest(kgOne) }
  ]
  const samples = await loadRounds(targets, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS })
  const rows = []
  for (const [mode, variant] of [[`${cores} cores`, 'keygate'], ['1 core', 'keygate'], [`${cores} cores`, 'keygate+log']]) {
    const mine = samples[`${variant}/${mode}`]
    const base = samples[`opa/${mode}`]
    const ratio = med(mine, 'rps') / med(base, 'rps')
    rows.push({
      figure: 2,
      name: `forward-auth, cached key: resolution + decision (${mode === '1 core' ? 'KEYGATE_WORKERS=1' : `KEYGATE_WORKERS=${cores}`}, ${variant === 'keygate' ? 'decision log off' : 'decision log to PostgreSQL (default)'})`,
      value: round(med(mine, 'rps')),
      unit: 'req/s',
      p99: med(mine, 'p99'),
      cpuUsPerRequest: round(med(mine, 'cpuUsPerRequest'), 1),
      baseline: { name: `opa run --server, decision only (${mode === '1 core' ? 'GOMAXPROCS=1' : `GOMAXPROCS=${cores}`})`, value: round(med(base, 'rps')), p99: med(base, 'p99'), cpuUsPerRequest: round(med(base, 'cpuUsPerRequest'), 1) },
      ratio: round(ratio, 2),
      target: '≥ 1.5×',
      met: ratio >= 1.5
    })
  }
  report('opa', rows, { rounds: ROUNDS, durationSeconds: DURATION, connections: CONNECTIONS, input, samples })
} finally {
  for (const server of servers) await server.stop()
  rego.remove()
  await db.drop()
}
