import { randomBytes } from 'node:crypto'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startKeygate } from './lib/keygate.js'
import { measure } from './lib/rounds.js'
import { issueKey, openStore, setKeyLimits } from '../dist/index.js'
const db = await throwawayDatabase('limitsprof')
try {
  const fx = await smallFixture(db.url, { secret: randomBytes(32) })
  const store = await openStore({ databaseUrl: db.url })
  const limited = await issueKey(store, { userId: fx.parentId, name: 'limited' })
  await setKeyLimits(store, limited.id, { rate: { limit: 1_000_000_000, windowSeconds: 1 }, quota: { limit: 1_000_000_000, period: 'month' } })
  await store.close()
  for (const [name, key] of [['unlimited', fx.key], ['limited', limited.token]]) {
    const kg = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=/tmp/limits-prof/${name}`], env: { KEYGATE_DECISION_LOG: 'off' } })
    const target = { name, server: kg, request: { url: `${kg.url}/v1/forward-auth`, headers: forwardHeaders(key) } }
    await measure(target, { connections: 50, duration: 1 })
    const s = await measure(target, { connections: 50, duration: 4 })
    console.log(name, Math.round(s.rps), s.cpuUsPerRequest.toFixed(1))
    await kg.stop()
  }
} finally { await db.drop() }
