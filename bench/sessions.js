// Figure 6. Session-token verification with and without the verified-token
// cache: Sessions.verify on tokens minted by Keygate, one process, calls back
// to back. Without the cache (cache.max = 1, tokens taken in turn) every call
// checks the Ed25519 signature and the claims and reads the session row; with
// it (the default) a token verified before is answered from memory until its
// cache TTL or exp. jose's jwtVerify alone (signature and claims, no store) is
// the floor of the uncached path.
import { createLocalJWKSet, jwtVerify } from 'jose'
import { openStore, Sessions } from '../dist/index.js'
import { throwawayDatabase } from './lib/db.js'
import { smallFixture } from './lib/fixture.js'
import { alternate, log, med, report, round, SMALL } from './lib/report.js'
import { measureCalls as measure } from './lib/stats.js'

const ROUNDS = SMALL ? 3 : 5
const TOKENS = SMALL ? 1_000 : 5_000
const SECONDS = SMALL ? 1 : 2

const db = await throwawayDatabase('sessions')
try {
  const fx = await smallFixture(db.url)
  const store = await openStore({ databaseUrl: db.url })
  const cached = new Sessions({ db: store.database, secret: fx.secret })
  const uncached = new Sessions({ db: store.database, secret: fx.secret, cache: { max: 1 } })
  log(`minting ${TOKENS} session tokens`)
  const tokens = []
  for (let i = 0; i < TOKENS; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, TOKENS - i) }, () => cached.mint({ userId: fx.parentId, durationInSeconds: 3600 })))
    tokens.push(...batch.map((m) => m.token))
  }
  const jwks = createLocalJWKSet(await cached.jwks())
  const check = (session) => { if (session === null) throw new Error('a valid token was refused') }
  for (const token of tokens) check(await cached.verify(token)) // fills the cache (TOKENS ≤ its 10,000 entries)

  const variants = [
    { name: 'cached', fn: async (i) => check(await cached.verify(tokens[i % TOKENS])) },
    { name: 'uncached', fn: async (i) => check(await uncached.verify(tokens[i % TOKENS])) },
    {
      name: 'jose',
      fn: async (i) => {
        await jwtVerify(tokens[i % TOKENS], jwks, { algorithms: ['EdDSA'], issuer: 'keygate', audience: 'keygate', typ: 'keygate-session+jwt' })
      }
    }
  ]
  for (const v of variants) await measure(v.fn, 0.3)
  const samples = await alternate(variants, ROUNDS, async (v, r) => {
    const s = await measure(v.fn, SECONDS)
    log(`round ${r} ${v.name.padEnd(10)} ${String(Math.round(s.rate)).padStart(8)}/CPU-s  p50 ${s.p50.toFixed(1)} µs  p99 ${s.p99.toFixed(1)} µs`)
    return s
  })
  const m = (name, field) => med(samples[name], field)
  const rows = [
    {
      figure: 6,
      name: `Sessions.verify with the verified-token cache (default), ${TOKENS.toLocaleString('en')} tokens in turn`,
      value: round(m('cached', 'rate')),
      unit: 'verifications/CPU-s',
      p99: `${round(m('cached', 'p99'), 1)} µs`,
      baseline: { name: 'without the cache (cache.max = 1): signature, claims, session row', value: round(m('uncached', 'rate')), p99: `${round(m('uncached', 'p99'), 1)} µs` },
      ratio: round(m('cached', 'rate') / m('uncached', 'rate'), 1)
    },
    {
      figure: 6,
      name: 'Sessions.verify without the cache',
      value: round(m('uncached', 'rate')),
      unit: 'verifications/CPU-s',
      p99: `${round(m('uncached', 'p99'), 1)} µs`,
      baseline: { name: "jose's jwtVerify alone (no store)", value: round(m('jose', 'rate')), p99: `${round(m('jose', 'p99'), 1)} µs` },
      ratio: round(m('uncached', 'rate') / m('jose', 'rate'), 2)
    }
  ]
  await cached.close()
  await uncached.close()
  await store.close()
  report('sessions', rows, { rounds: ROUNDS, tokens: TOKENS, secondsPerRound: SECONDS, samples })
} finally {
  await db.drop()
}
